"""HAQ's last step on the MobileNetV2 table: fine-tune each searched policy, then test it.

HAQ quantizes the policy its agent found and fine-tunes it before reporting accuracy;
``haq_table.py`` reports the searched policies as they are (post-training quantization).
This script takes the run files ``haq_table.py`` left (benchmarks/results/haq_mobilenetv2/runs),
fine-tunes each chosen run's best policy with the search's own quantization-aware
fine-tune (``hwsearch.evaluate.finetune``: straight-through, BatchNorm frozen, Adam) on the
training split, and scores it on the test split. Uniform W8A8 is compared as it is
("vs int8", what haq_table.py compares with) and after the same fine-tune ("vs int8 tuned").

    python benchmarks/haq_finetune.py [--budgets 0.5] [--agents fisher ddpg] [--targets haq-mobilenetv2] [--steps 300]

Results: benchmarks/results/haq_mobilenetv2/finetune.json and finetune.md (resumable: a
policy already fine-tuned with the same settings is not done again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsearch.core.policy import Policy  # noqa: E402
from hwsearch.evaluate import accuracy, finetune  # noqa: E402
from hwsearch.quant import QuantizedModel  # noqa: E402
from hwsearch.zoo import build_model, model_dataset  # noqa: E402

MODEL = "fashion-mobilenetv2"
OUT = ROOT / "benchmarks" / "results" / "haq_mobilenetv2"


def tuned_accuracy(policy: Policy, steps: int, lr: float, batch_size: int, seed: int) -> tuple[float, float, float]:
    """Test accuracy of ``policy`` before and after the fine-tune, and the fine-tune's seconds
    (a fresh copy of the shipped weights each time)."""
    net, data = build_model(MODEL), model_dataset(MODEL)
    qmodel = QuantizedModel(net, data.calib.x)
    qmodel.set_policy(policy)
    before = accuracy(qmodel, data.test)
    start = time.perf_counter()
    finetune(qmodel, data.train, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
    seconds = time.perf_counter() - start
    return before, accuracy(qmodel, data.test), seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", nargs="+", type=float, default=[0.667, 0.5])
    p.add_argument("--agents", nargs="+", default=["ddpg", "fisher"])
    p.add_argument("--targets", nargs="+", default=["haq-mobilenetv2", "bismo-cloud", "bitfusion"])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-samples", type=int, default=2000, help="fine-tune the searches that scored on this many images")
    args = p.parse_args()
    settings = {"steps": args.steps, "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed}
    out_json = OUT / "finetune.json"
    done = json.loads(out_json.read_text()) if out_json.exists() else {"settings": settings, "rows": []}
    if done["settings"] != settings:
        done = {"settings": settings, "rows": []}
    have = {row["key"] for row in done["rows"]}
    net = build_model(MODEL)
    names = QuantizedModel(net, model_dataset(MODEL).calib.x[:8]).layer_names
    todo = [("uniform-int8", None, None, Policy.uniform(names, 8))]
    for path in sorted((OUT / "runs").glob("*.json")):
        run = json.loads(path.read_text())
        spec = run["spec"]
        label = path.stem.split("__")[3]  # the benchmark's agent label: haq-ddpg is ddpg with options
        if (label in args.agents and spec["target"] in args.targets and spec["eval_samples"] == args.eval_samples
                and round(spec["budget"]["relative"], 3) in args.budgets):
            todo.append((path.stem, run, label, Policy.from_dict(run["best"]["policy"])))
    for key, run, label, policy in todo:
        if key in have:
            continue
        before, after, seconds = tuned_accuracy(policy, args.steps, args.lr, args.batch_size, args.seed)
        row = {"key": key, "test_before": before, "test_after": after, "finetune_s": round(seconds, 1)}
        if run is not None:
            spec = run["spec"]
            row.update(target=spec["target"], objective=spec["objective"], budget=spec["budget"]["relative"],
                       agent=label, seed=spec["seed"],
                       latency_ratio=_ratio(run["baseline_int8"]["latency_ms"], run["best"]["latency_ms"]),
                       energy_ratio=_ratio(run["baseline_int8"]["energy_mj"], run["best"]["energy_mj"]))
        done["rows"].append(row)
        out_json.write_text(json.dumps(done, indent=2) + "\n")
        print(f"{key}: {100 * before:.2f}% -> {100 * after:.2f}% ({seconds:.0f} s)", flush=True)
    (OUT / "finetune.md").write_text(summary(done))
    print(summary(done))


def _ratio(base: float | None, value: float | None) -> float | None:
    return base / value if base and value else None


def summary(done: dict) -> str:
    """HAQ's columns after the fine-tune, against uniform int8 with the same fine-tune."""
    rows = done["rows"]
    base = next(r for r in rows if r["key"] == "uniform-int8")
    refs = json.loads((OUT / "references.json").read_text())
    s = done["settings"]
    lines = [
        f"Fine-tune: {s['steps']} steps of {s['batch_size']} training images, Adam lr {s['lr']}. Float test accuracy "
        f"{100 * refs['float']:.2f}%; uniform W8A8 {100 * base['test_before']:.2f}% before the fine-tune, "
        f"{100 * base['test_after']:.2f}% after.",
        "",
        "| target | objective | budget x int8 | agent | seed | test acc before | after | vs float | vs int8 | vs int8 tuned | latency int8/policy | energy int8/policy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}x"  # noqa: E731
    for r in sorted((r for r in rows if r["key"] != "uniform-int8"),
                    key=lambda r: (r["target"], r["objective"], -r["budget"], r["agent"], r["seed"])):
        lines.append(
            f"| {r['target']} | {r['objective']} | {r['budget']:.3g} | {r['agent']} | {r['seed']} | "
            f"{100 * r['test_before']:.2f} | {100 * r['test_after']:.2f} | {100 * (r['test_after'] - refs['float']):+.2f} | "
            f"{100 * (r['test_after'] - base['test_before']):+.2f} | {100 * (r['test_after'] - base['test_after']):+.2f} | "
            f"{fmt(r['latency_ratio'])} | {fmt(r['energy_ratio'])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
