"""``hwsearch robust POLICY.json``: clean / FGSM / PGD accuracy of a policy, where the
noise grows layer by layer, and each layer's spectral norm; ``--update`` writes the
``robustness`` block into the policy file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hwsearch.cli.errors import fail as _fail
from rich.table import Table

console = Console()



def robust_command(
    policy_file: Annotated[Path, typer.Argument(help="Policy file (hwsearch.policy/v1).")],
    eps: Annotated[list[float] | None, typer.Option(help="L-inf budget(s) in [0, 1] pixel units; repeat for several.")] = None,
    steps: Annotated[int, typer.Option(min=1, help="PGD iterations.")] = 10,
    samples: Annotated[int, typer.Option(min=1, help="Images attacked (the first N of the split).")] = 1000,
    split: Annotated[str, typer.Option(help="val or test.")] = "val",
    seed: Annotated[int, typer.Option(min=0, help="Seed of PGD's random start.")] = 0,
    amplification: Annotated[bool, typer.Option(help="Show the per-layer error amplification under PGD (last eps).")] = True,
    compare_float: Annotated[bool, typer.Option(help="Also attack the float model.")] = True,
    update: Annotated[bool, typer.Option(help="Write the PGD result at the first eps into the file's robustness block.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every number as JSON here.")] = None,
) -> None:
    """Attack a quantization policy (white-box, through the quantizers) and show where the noise grows."""
    from hwsearch.data import DataError, load_dataset
    from hwsearch.evaluate import accuracy
    from hwsearch.export.base import ExportError
    from hwsearch.export.calibrated import build_float_model, calibrate
    from hwsearch.finetuned_weights import read_sidecar
    from hwsearch.policy_file import PolicyFileError, read_policy_file, validate_policy_document, write_policy_file
    from hwsearch.robust import Attack, adversarial_split, error_amplification, spectral_norms
    from hwsearch.zoo import ModelError, model_dataset

    eps_list = eps or [0.1]
    if split not in ("val", "test"):
        _fail(f"split: choose val or test, got {split!r}")
    try:
        for e in eps_list:
            Attack("pgd", e)
        doc, _ = read_policy_file(policy_file)
        weights = read_sidecar(policy_file, doc)  # a fine-tuned policy is attacked with its fine-tuned weights
        cal = calibrate(doc, build_float_model(doc, weights) if weights else None)
        float_model = cal.model if weights is None else build_float_model(doc)
        data = (doc.get("spec") or {}).get("data")
        dataset = load_dataset(data) if data else model_dataset(doc["model"])
    except (PolicyFileError, ExportError, ModelError, DataError, ValueError) as exc:
        _fail(str(exc))
    subset = dataset.split(split).head(samples)
    models = {"policy": cal.qmodel} | ({"float": float_model} if compare_float else {})
    results: dict = {"samples": len(subset), "split": split, "eps": eps_list, "pgd_steps": steps, "models": {}}
    curves = {}
    for label, model in models.items():
        t0 = time.perf_counter()
        row = {"clean": accuracy(model, subset)}
        seconds = {"clean": time.perf_counter() - t0}
        for e in eps_list:
            for name, attack in (("fgsm", Attack("fgsm", e)), ("pgd", Attack("pgd", e, steps, seed=seed))):
                t0 = time.perf_counter()
                adv = adversarial_split(model, subset, attack)
                row[f"{name}@{e:g}"] = accuracy(model, adv)
                seconds[f"{name}@{e:g}"] = time.perf_counter() - t0
        if amplification:
            n = min(256, len(subset))
            adv = adversarial_split(model, subset.head(n), Attack("pgd", eps_list[-1], steps, seed=seed))
            curves[label] = error_amplification(model, subset.x[:n], adv.x)
        row["seconds"] = seconds
        row["spectral_norms"] = spectral_norms(model)
        results["models"][label] = row
    results["amplification"] = curves

    table = Table(title=f"{doc['model']}: robustness on {len(subset)} {split} images (PGD-{steps})")
    table.add_column("model")
    cols = [k for k in results["models"]["policy"] if k not in ("seconds", "spectral_norms")]
    for c in cols:
        table.add_column(c, justify="right")
    for label, row in results["models"].items():
        table.add_row(label, *(f"{100 * row[c]:.2f}%" for c in cols))
    console.print(table)
    layers = Table(title="per layer: spectral norm (BN folded) and relative output distance under PGD")
    layers.add_column("layer")
    for label in models:
        layers.add_column(f"sigma {label}", justify="right")
    for label in curves:
        layers.add_column(f"amplif. {label}", justify="right")
    names = list(results["models"]["policy"]["spectral_norms"])
    for name in ["input"] + names:
        cells = [f"{results['models'][lb]['spectral_norms'][name]:.3f}" if name != "input" else "" for lb in models]
        cells += [f"{dict(curves[lb]).get(name, float('nan')):.3f}" for lb in curves]
        layers.add_row(name, *cells)
    console.print(layers)
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=1) + "\n")
        console.print(f"wrote {json_out}")
    if update:
        p, f = results["models"]["policy"], results["models"].get("float")
        e = eps_list[0]
        doc["robustness"] = {
            "attack": "pgd", "eps": e, "steps": steps, "step_size": Attack("pgd", e, steps).alpha, "random_start": True,
            "seed": seed, "samples": len(subset), "split": split, "accuracy": p[f"pgd@{e:g}"], "clean_accuracy": p["clean"],
            "float_accuracy": f[f"pgd@{e:g}"] if f else None, "float_clean_accuracy": f["clean"] if f else None,
            "min_accuracy": None, "weight": 0.0, "evaluations": 1, "seconds": p["seconds"][f"pgd@{e:g}"],
        }
        validate_policy_document(doc)
        write_policy_file(policy_file, doc)
        console.print(f"updated {policy_file} (robustness block)")
