"""HAQ's experiment at its depth: the 53-layer ``fashion-mobilenetv2`` searched on
``haq-mobilenetv2`` (HAQ's own latency table), ``bismo-cloud`` and ``bitfusion``, for
latency and for energy, at budgets of 1/1.5, 1/2 and 1/3 of uniform int8, every agent
over seeds; reported in HAQ's form: held-out (test split) accuracy against float and
uniform int8, and how many times lower the policy's latency and energy are than int8's.

    python benchmarks/haq_table.py                       # the full grid (hours on 2 cores)
    python benchmarks/haq_table.py --agents ddpg ilp --seeds 0 --targets haq-mobilenetv2

Runs go through ``search_quality.run_grid`` (one JSON file per run under
benchmarks/results/haq_mobilenetv2/runs, so an interrupted grid resumes); the table goes
to table.md and table.json there, and table_by_agent.md has one line per cell with the
agents side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from agent_variants import resolve  # noqa: E402
from agents import agent_class  # noqa: E402
from probe_store import PROBING_AGENTS, ProbeStore, measure_probes, probe_path  # noqa: E402
from search_quality import add_confirmation, add_test_accuracy, run_grid  # noqa: E402

MODEL = "fashion-mobilenetv2"
BOTH = "latency:1,energy:1"  # a mixed objective: the budget bounds the mean of the two ratios to int8
OUT = ROOT / "benchmarks" / "results" / "haq_mobilenetv2"


def reference_accuracies(model: str) -> dict[str, float]:
    """Float and uniform-int8 accuracy on the test split (what HAQ's table compares with)."""
    from hwsearch.core.policy import Policy
    from hwsearch.evaluate import accuracy
    from hwsearch.quant import QuantizedModel
    from hwsearch.zoo import build_model, model_dataset

    net, data = build_model(model), model_dataset(model)
    qmodel = QuantizedModel(net, data.calib.x)
    out = {"float": accuracy(net, data.test)}
    for bits in (8, 4):
        qmodel.set_policy(Policy.uniform(qmodel.layer_names, bits))
        out[f"w{bits}a{bits}"] = accuracy(qmodel, data.test)
    return out


def _ratio(base: float | None, value: float | None) -> float | None:
    return base / value if base and value else None


def summarise(rows: list[dict], refs: dict[str, float]) -> tuple[str, list[dict]]:
    """One line per (target, objective, budget, agent): HAQ's columns, mean over seeds."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault((r["target"], r["objective"], r["budget"], r["agent"]), []).append(r)
    lines = [
        f"Float test accuracy {100 * refs['float']:.2f}%, uniform W8A8 {100 * refs['w8a8']:.2f}%, "
        f"W4A4 {100 * refs['w4a4']:.2f}%. Latency and energy columns: uniform int8 / policy (higher is better).",
        "",
        "| target | objective | budget x int8 | agent | seeds | test acc % | vs float | vs int8 | latency int8/policy | energy int8/policy | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    table, sources = [], {}
    for (target, objective, budget, agent), runs in cells.items():
        if any("refused" in r for r in runs):
            lines.append(f"| {target} | {objective} | {budget:.3g} | {agent} | | {runs[0]['refused']} | | | | | |")
            continue
        done = [r["data"] for r in runs if "data" in r and r["data"].get("test_accuracy") is not None]
        if not done:
            continue
        acc = [d["test_accuracy"] for d in done]
        shared = any(d.get("probes_preloaded") for d in done)
        for d in done:
            if d.get("probes_preloaded"):
                sources.update(d["probes_from"])
        lat = [_ratio(d["baseline_int8"]["latency_ms"], d["best"]["latency_ms"]) for d in done]
        en = [_ratio(d["baseline_int8"]["energy_mj"], d["best"]["energy_mj"]) for d in done]
        row = {
            "target": target, "objective": objective, "budget": budget, "agent": agent, "seeds": len(done),
            "test_accuracy": statistics.mean(acc), "test_accuracy_sd": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "vs_float_points": 100 * (statistics.mean(acc) - refs["float"]),
            "vs_int8_points": 100 * (statistics.mean(acc) - refs["w8a8"]),
            "latency_ratio": statistics.mean(lat) if all(lat) else None,
            "energy_ratio": statistics.mean(en) if all(en) else None,
            "wall_s": statistics.median(d["bench_wall_s"] for d in done), "probes_shared": shared,
        }
        table.append(row)
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}x"  # noqa: E731
        lines.append(
            f"| {target} | {objective} | {budget:.3g} | {agent} | {len(done)} | {100 * row['test_accuracy']:.2f} ± "
            f"{100 * row['test_accuracy_sd']:.2f} | {row['vs_float_points']:+.2f} | {row['vs_int8_points']:+.2f} | "
            f"{fmt(row['latency_ratio'])} | {fmt(row['energy_ratio'])} | {row['wall_s']:.0f}{' *' if shared else ''} |"
        )
    if sources:
        measured = ", ".join(f"{' '.join(key.split('__')[1:4]) if '__' in key else key} in {s:.0f} s" for key, s in sources.items())
        lines += ["", f"\\* the run was given the sensitivity probes an earlier run measured ({measured}); "
                      "its wall time is its own work only (`benchmarks/probe_store.py`)."]
    return "\n".join(lines) + "\n", table


def by_agent(table: list[dict], agents: list[str]) -> str:
    """The same rows folded to one line per cell: each agent's test accuracy side by side
    (mean ± sd over its seeds, the seed count in brackets when it is not 3), then the
    spread of the cell's latency and energy ratios over every agent."""
    cells: dict[tuple, dict[str, dict]] = {}
    for row in table:
        cells.setdefault((row["target"], row["objective"], row["budget"]), {})[row["agent"]] = row
    present = [a for a in agents if any(a in c for c in cells.values())]
    lines = [
        "| target | objective | budget x int8 | " + " | ".join(present) + " | latency int8/policy | energy int8/policy |",
        "|---|---|---|" + "---|" * len(present) + "---|---|",
    ]

    def spread(values: list[float | None]) -> str:
        got = [v for v in values if v is not None]
        if not got:
            return "n/a"
        return f"{min(got):.2f}x" if max(got) - min(got) < 0.005 else f"{min(got):.2f}-{max(got):.2f}x"

    for (target, objective, budget), by in cells.items():
        best = max(r["test_accuracy"] for r in by.values())
        out = []
        for agent in present:
            r = by.get(agent)
            if r is None:
                out.append("")
                continue
            text = f"{100 * r['test_accuracy']:.2f}" + (f" ± {100 * r['test_accuracy_sd']:.2f}" if r["seeds"] > 1 else "")
            text += "" if r["seeds"] == 3 or not agent_class(resolve(agent)[0]).seeded else f" ({r['seeds']})"
            out.append(f"**{text}**" if r["test_accuracy"] == best else text)
        lines.append(f"| {target} | {objective} | {budget:.3g} | " + " | ".join(out) + f" | "
                     f"{spread([r['latency_ratio'] for r in by.values()])} | {spread([r['energy_ratio'] for r in by.values()])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", nargs="+", default=["haq-mobilenetv2", "bismo-cloud", "bitfusion"])
    p.add_argument("--objectives", nargs="+", default=["latency", "energy"], choices=["latency", "energy", BOTH],
                   help=f"{BOTH!r}: the sum of latency and energy, each as a fraction of int8's (HAQ's 2x for both)")
    p.add_argument("--budgets", nargs="+", type=float, default=[round(1 / 1.5, 3), 0.5, round(1 / 3, 3)])
    p.add_argument("--agents", nargs="+", default=["ddpg", "ilp", "fisher", "evolution", "random", "greedy", "uniform"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--eval-samples", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--no-share-probes", dest="share_probes", action="store_false",
                   help="measure ilp's and greedy's sensitivity probes in every run, not once per model and image count")
    args = p.parse_args()
    args.models, args.extra_budgets = [MODEL], {}
    args.out.mkdir(parents=True, exist_ok=True)
    if args.share_probes and not args.report_only and PROBING_AGENTS & set(args.agents):
        # the probes first, saved as they come: the pass outlasts a session on this network
        for target in args.targets:
            body = {"model": MODEL, "target": target, "budget": {"relative": args.budgets[0]},
                    "agent": "ilp", "eval_samples": args.eval_samples}
            measure_probes(body, ProbeStore(probe_path(args.out, MODEL, args.eval_samples)))
    rows = run_grid(args)
    add_confirmation(rows)
    add_test_accuracy(rows)
    refs_path = args.out / "references.json"
    refs = json.loads(refs_path.read_text()) if refs_path.exists() else reference_accuracies(MODEL)
    refs_path.write_text(json.dumps(refs, indent=2) + "\n")
    text, table = summarise(rows, refs)
    (args.out / "table.md").write_text(text)
    (args.out / "table_by_agent.md").write_text(by_agent(table, args.agents))
    (args.out / "table.json").write_text(json.dumps({"model": MODEL, "episodes": args.episodes, "eval_samples": args.eval_samples,
                                                     "references": refs, "rows": table}, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
