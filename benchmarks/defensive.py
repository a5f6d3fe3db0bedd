"""Defensive Quantization on the built-in models: vanilla vs Lipschitz-regularised fine-tune.

For each seed, precision (float and uniform 8/6/4/3/2 bits) and fine-tune kind
(``vanilla``: task loss only; ``defensive``: + beta * sum ||W W^T - I||^2), the same
fine-tune budget is spent, then on a fixed test subset we measure clean accuracy,
white-box FGSM and PGD accuracy at two eps (gradients through the quantizers by the
straight-through estimator), *transfer* PGD accuracy (examples crafted on the seed's
vanilla float model: no gradient masking by the quantizers), the error amplification
curve and the layers' spectral norms, and what each piece cost. Results go to
benchmarks/results/defensive.json after every configuration (a rerun skips what is
there); ``--report`` writes the table and plot for docs/robustness.md.

A results file holds one protocol (images, eps, PGD steps, fine-tune steps and lr): a run
with other settings is refused unless it writes to another file (``--results``). Rows are
keyed by (model, seed, kind, bits, beta), so ``--beta`` adds a sweep of the penalty's
strength beside the main table (``--report`` lists it separately).

    python benchmarks/defensive.py --model fashion-cnn --seeds 0 1 2
    python benchmarks/defensive.py --bits 4 --seeds 0 1 2 --beta 1e-4   # a beta sweep point
    python benchmarks/defensive.py --report
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from hwsearch.data import Split
from hwsearch.evaluate import accuracy
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.quant import QuantizedModel
from hwsearch.robust import DEFAULT_BETA, Attack, adversarial_split, defensive_finetune, error_amplification, spectral_norms
from hwsearch.zoo import build_model, model_dataset

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "defensive.json"
PLOT = ROOT / "docs" / "robustness_defensive.png"
AMP_PLOT = ROOT / "docs" / "robustness_amplification.png"


PROTOCOL = ("samples", "eps", "pgd_steps", "finetune_steps", "lr", "split")


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"runs": []}


def _save(doc: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def _beta(row: dict, settings: dict) -> float:
    """A row's penalty strength (vanilla: 0; rows from before the sweep: the file's beta)."""
    return 0.0 if row["kind"] == "vanilla" else row.get("beta", settings["beta"])


def run(args) -> None:
    doc = _load(args.results)
    settings = {
        "samples": args.samples, "eps": args.eps, "pgd_steps": args.pgd_steps, "finetune_steps": args.steps,
        "lr": args.lr, "split": "test", "beta": DEFAULT_BETA,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    old = doc.get("settings")
    if old and any(old.get(k) != settings[k] for k in PROTOCOL):
        differ = ", ".join(f"{k} {old.get(k)} -> {settings[k]}" for k in PROTOCOL if old.get(k) != settings[k])
        raise SystemExit(f"{args.results} holds another protocol ({differ}); pass --results NEW.json")
    doc["settings"] = {**settings, "bits": sorted(set(old.get("bits", [])) | set(args.bits), reverse=True) if old else args.bits}
    done = {(r["model"], r["seed"], r["kind"], r["bits"], _beta(r, doc["settings"])) for r in doc["runs"]}
    model = build_model(args.model)
    data = model_dataset(args.model)
    subset = data.test.head(args.samples)

    def tuned(bits: int, beta: float, seed: int) -> tuple[QuantizedModel, float]:
        torch.manual_seed(seed)
        q = QuantizedModel(model, data.calib.x)
        q.set_policy(Policy.uniform(q.layer_names, bits))
        t0 = time.perf_counter()
        defensive_finetune(q, data.train, beta=beta, steps=args.steps, lr=args.lr, seed=seed)
        return q, time.perf_counter() - t0

    for seed in args.seeds:
        todo = [
            (bits, kind, args.beta if kind == "defensive" else 0.0)
            for bits in args.bits for kind in ("vanilla", "defensive")
            if (args.model, seed, kind, bits, args.beta if kind == "defensive" else 0.0) not in done
        ]
        if not todo:
            continue
        # the transfer source: this seed's vanilla float model (recomputed when a run resumes)
        source, source_s = tuned(FLOAT_BITS, 0.0, seed)
        transfer = {eps: adversarial_split(source, subset, Attack("pgd", eps, args.pgd_steps, seed=seed)) for eps in args.eps}
        for bits, kind, beta in todo:
            q, ft_s = (source, source_s) if (bits, kind) == (FLOAT_BITS, "vanilla") else tuned(bits, beta, seed)
            row = {"model": args.model, "seed": seed, "kind": kind, "bits": bits, "beta": beta, "finetune_s": ft_s}
            t0 = time.perf_counter()
            row["clean"] = accuracy(q, subset)
            row["clean_s"] = time.perf_counter() - t0
            for eps in args.eps:
                for name, attack in (("fgsm", Attack("fgsm", eps)), ("pgd", Attack("pgd", eps, args.pgd_steps, seed=seed))):
                    t0 = time.perf_counter()
                    adv = adversarial_split(q, subset, attack)
                    row[f"{name}@{eps:g}"] = accuracy(q, adv)
                    row[f"{name}@{eps:g}_s"] = time.perf_counter() - t0
                    if name == "pgd" and eps == args.eps[-1]:
                        n = min(256, args.samples)
                        row["amplification"] = error_amplification(q, subset.x[:n], adv.x[:n])
                row[f"transfer@{eps:g}"] = accuracy(q, transfer[eps])
            row["spectral"] = spectral_norms(q)
            doc["runs"].append(row)
            _save(doc, args.results)
            print(f"{args.model} seed {seed} {kind:9s} beta {beta:g} {bits:2d}b clean {row['clean']:.3f} "
                  + " ".join(f"{k} {row[k]:.3f}" for k in row if "@" in k and not k.endswith("_s"))
                  + f" sigma_max {max(row['spectral'].values()):.2f} ({ft_s:.0f}s ft)", flush=True)


def _agg(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def plot_path(default: Path, results: Path, model: str, first_model: str) -> Path:
    """docs/ plots for the main results file (first model unsuffixed); others beside their file."""
    suffix = "" if model == first_model else f"_{model}"
    if results.resolve() == RESULTS.resolve():
        return default.with_name(f"{default.stem}{suffix}.png")
    return results.with_name(f"{results.stem}_{default.stem}{suffix}.png")


def beta_sweep(doc: dict) -> list[str]:
    """Table lines: the penalty's strength against clean and PGD accuracy and spectral norm,
    per (model, bits) that was run at more than the default beta (vanilla is beta 0)."""
    s, runs = doc["settings"], doc["runs"]
    e = s["eps"][-1]
    metrics = ["clean", f"pgd@{s['eps'][0]:g}", f"pgd@{e:g}", f"transfer@{e:g}"]
    lines = []
    for model, bits in sorted({(r["model"], r["bits"]) for r in runs if _beta(r, s) not in (0.0, s["beta"])}):
        rows = [r for r in runs if r["model"] == model and r["bits"] == bits]
        label = "float" if bits == FLOAT_BITS else f"{bits}-bit"
        lines.append(f"\n**beta sweep: {model}, {label}** (accuracy %, mean ± std over seeds; beta 0 is the vanilla fine-tune)\n")
        lines.append("| beta | seeds | " + " | ".join(metrics) + " | max σ | mean σ |")
        lines.append("|---" * (len(metrics) + 4) + "|")
        for beta in sorted({_beta(r, s) for r in rows}):
            group = [r for r in rows if _beta(r, s) == beta]
            sig_max = statistics.mean(max(r["spectral"].values()) for r in group)
            sig_mean = statistics.mean(statistics.mean(r["spectral"].values()) for r in group)
            lines.append(f"| {beta:g} | {len(group)} | " + " | ".join(_agg([r[m] for r in group]) for m in metrics)
                         + f" | {sig_max:.2f} | {sig_mean:.2f} |")
    return lines


def report(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = _load(path)
    s = doc["settings"]
    sweep = beta_sweep(doc)
    runs = [r for r in doc["runs"] if _beta(r, s) in (0.0, s["beta"])]  # the main table: the default beta
    models = sorted({r["model"] for r in runs})
    metrics = ["clean"] + [f"{a}@{e:g}" for e in s["eps"] for a in ("fgsm", "pgd", "transfer")]
    lines = []
    for model in models:
        seeds = sorted({r["seed"] for r in runs if r["model"] == model})
        lines.append(f"\n**{model}** ({len(seeds)} seed{'s' * (len(seeds) > 1)}: {seeds}; accuracy %, mean ± std over seeds)\n")
        lines.append("| bits | fine-tune | " + " | ".join(metrics) + " | max σ | mean σ |")
        lines.append("|---" * (len(metrics) + 4) + "|")
        for bits in sorted(s["bits"], reverse=True):
            for kind in ("vanilla", "defensive"):
                rows = [r for r in runs if r["model"] == model and r["bits"] == bits and r["kind"] == kind]
                if not rows:
                    continue
                sig_max = statistics.mean(max(r["spectral"].values()) for r in rows)
                sig_mean = statistics.mean(statistics.mean(r["spectral"].values()) for r in rows)
                label = "float" if bits == FLOAT_BITS else f"{bits}"
                lines.append(f"| {label} | {kind} | " + " | ".join(_agg([r[m] for r in rows]) for m in metrics)
                             + f" | {sig_max:.2f} | {sig_mean:.2f} |")
        cost = [r for r in runs if r["model"] == model]
        e = s["eps"][-1]
        lines.append(
            f"\nCost per configuration ({s['samples']} images): clean {statistics.mean(r['clean_s'] for r in cost):.2f} s, "
            f"FGSM {statistics.mean(r[f'fgsm@{e:g}_s'] for r in cost):.2f} s, PGD-{s['pgd_steps']} "
            f"{statistics.mean(r[f'pgd@{e:g}_s'] for r in cost):.2f} s, fine-tune {statistics.mean(r['finetune_s'] for r in cost):.1f} s."
        )
        fig, axes = plt.subplots(1, len(s["eps"]), figsize=(5.5 * len(s["eps"]), 3.6), squeeze=False)
        s["bits"] = sorted(s["bits"], reverse=True)
        xs = list(range(len(s["bits"])))
        for ax, eps in zip(axes[0], s["eps"]):
            for kind, style in (("vanilla", "--"), ("defensive", "-")):
                for attack, color in (("pgd", "C3"), ("fgsm", "C0"), ("transfer", "C2")):
                    ys = []
                    for bits in s["bits"]:
                        vals = [r[f"{attack}@{eps:g}"] for r in runs if r["model"] == model and r["bits"] == bits and r["kind"] == kind]
                        ys.append(100 * statistics.mean(vals) if vals else float("nan"))
                    ax.plot(xs, ys, style, color=color, marker="o", label=f"{attack} {kind}")
            ax.set_xticks(xs, ["float" if b == FLOAT_BITS else str(b) for b in s["bits"]])
            ax.set_xlabel("bits (weights and activations)")
            ax.set_ylabel("accuracy under attack (%)")
            ax.set_title(f"{model}, eps = {eps:g}")
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(plot_path(PLOT, path, model, models[0]), dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for bits, color in zip(s["bits"], ("k", "C0", "C1", "C2", "C3", "C4")):
            for kind, style in (("vanilla", "--"), ("defensive", "-")):
                rows = [r for r in runs if r["model"] == model and r["bits"] == bits and r["kind"] == kind and r["seed"] == seeds[0]]
                if rows:
                    curve = rows[0]["amplification"]
                    ax.plot([v for _, v in curve], style, color=color, label=f"{'float' if bits == FLOAT_BITS else bits} {kind}")
        names = [n for n, _ in rows[0]["amplification"]] if rows else []
        ax.set_xticks(range(len(names)), names, fontsize=7)
        ax.set_ylabel("||f(x') - f(x)|| / ||f(x)||")
        ax.set_xlabel(f"layer (PGD eps = {s['eps'][-1]:g}, seed {seeds[0]})")
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(plot_path(AMP_PLOT, path, model, models[0]), dpi=110)
        plt.close(fig)
    print("\n".join(lines + sweep))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fashion-cnn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bits", type=int, nargs="+", default=[FLOAT_BITS, 8, 6, 4, 3, 2])
    parser.add_argument("--steps", type=int, default=300, help="fine-tune steps (both kinds)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--eps", type=float, nargs=2, default=[0.02, 0.05])
    parser.add_argument("--pgd-steps", type=int, default=10)
    parser.add_argument("--results", type=Path, default=RESULTS, help="results file (one protocol per file)")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        report(args.results)
    else:
        run(args)


if __name__ == "__main__":
    main()
