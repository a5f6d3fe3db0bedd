"""Sensitivities from gradients (``fisher``) against measured ones (``ilp``), same ILP.

For each model on bismo-edge at each latency budget, one search per agent through
``run_search`` (search_quality.py's set-up: 2000 validation images to search on, the top 5
confirmed on the other 3000, seed 0), then the answer's accuracy on the test split
(``search_quality.HeldOutScorer``). Per model, the two sensitivity tables side by side and
their Spearman correlation. Writes benchmarks/results/gradient_sensitivity.json; a run
with ``--models`` replaces only those models' entries.

    python benchmarks/gradient_sensitivity.py [--models fashion-cnn] [--budgets 0.25 0.4]

The ILP's probes do not depend on the budget, so from the second budget on they are
preloaded from the first budget's run (same model, images and policies, so the same
accuracies; they still count in its evaluations) and that run's wall time is reported as
its own plus the first run's time to its first candidate: a fresh run's, without running
the few minutes of probes again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.baselines import measure_sensitivity  # noqa: E402
from agents.gradient import fisher_sensitivity  # noqa: E402
from hwsearch.core.policy import Policy  # noqa: E402
from hwsearch.core.run import SearchRun  # noqa: E402
from hwsearch.search import run_search  # noqa: E402
from probe_store import Preload, is_probe  # noqa: E402
from search_quality import HeldOutScorer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gradient_sensitivity.json"


class Watch(Preload):
    """Keeps the run's problem and the time from the run's start to its first candidate
    (the int8 baseline, the sensitivities, one ILP solve and that candidate's evaluation)."""

    def __init__(self, preload: list[tuple[Policy, float]] = ()) -> None:
        super().__init__(preload)
        self.first_s: float | None = None

    def init_callback(self, run: SearchRun) -> None:
        super().init_callback(run)
        self.start = time.perf_counter()

    def on_episode(self, record) -> bool:
        if self.first_s is None:
            self.first_s = time.perf_counter() - self.start
        return True


def _search(body: dict, held_out: HeldOutScorer, preload: list[tuple[Policy, float]] = ()) -> tuple[dict, Watch]:
    watch = Watch(preload)
    start = time.perf_counter()
    result = run_search(body, callbacks=[watch])
    wall = time.perf_counter() - start
    data = result.to_dict()
    best = result.best
    row = {
        "val_accuracy": best.confirmed_accuracy if best.confirmed_accuracy is not None else best.accuracy,
        "search_accuracy": best.accuracy,
        "test_accuracy": held_out.score(data),
        "latency_ms": best.latency_ms,
        "policy": best.policy.to_dict(),
        "episodes": len(result.history),
        "evaluations": result.evaluations,
        "wall_s": wall,
        "to_first_candidate_s": watch.first_s,
        "probes_preloaded": bool(preload),
    }
    return row, watch


def run_model(model: str, budgets: list[float], eval_samples: int, images: int) -> dict:
    held_out = HeldOutScorer()
    runs: dict[str, dict] = {}
    probes: list[tuple[Policy, float]] = []
    first_probe_s = 0.0
    fisher_problem = ilp_problem = None
    for budget in budgets:
        body = {
            "model": model, "target": "bismo-edge", "objective": "latency", "budget": {"relative": budget},
            "episodes": 300, "seed": 0, "eval_samples": eval_samples,
        }
        fisher, watch = _search({**body, "agent": "fisher"}, held_out)
        fisher_problem = watch.problem
        ilp, watch = _search({**body, "agent": "ilp"}, held_out, probes)
        if not probes:  # the first budget: keep its probes for the others
            ilp_problem = watch.problem
            scorer = ilp_problem.scorer
            first_probe_s = ilp["to_first_candidate_s"]
            probes = [(p, scorer.cache[p]) for p in scorer.order if is_probe(ilp_problem, p)]
        else:
            ilp["wall_s"] += first_probe_s
            ilp["to_first_candidate_s"] += first_probe_s
        runs[f"{budget:g}"] = {"fisher": fisher, "ilp": ilp}
        print(f"{model} {budget:g}: fisher {100 * fisher['val_accuracy']:.2f} (test {100 * fisher['test_accuracy']:.2f}) "
              f"{fisher['evaluations']} evals {fisher['wall_s']:.0f}s | ilp {100 * ilp['val_accuracy']:.2f} "
              f"(test {100 * ilp['test_accuracy']:.2f}) {ilp['evaluations']} evals {ilp['wall_s']:.0f}s", flush=True)

    # the two tables: measured drops from the first ILP run's cache (no new evaluation), the
    # Fisher estimates as the agent computed them (same images and seed), both against the widest width
    _, drop_w, drop_a = measure_sensitivity(ilp_problem)
    sens = fisher_sensitivity(fisher_problem, images=images, seed=0)
    fisher_w = sens.weights - sens.weights[:, -1:]
    fisher_a = sens.activations - sens.activations[:, -1:]
    narrower = np.s_[:, :-1]
    every = spearmanr(np.concatenate([fisher_w[narrower].ravel(), fisher_a[narrower].ravel()]),
                      np.concatenate([drop_w[narrower].ravel(), drop_a[narrower].ravel()])).statistic
    at2 = spearmanr(np.concatenate([fisher_w[:, 0], fisher_a[:, 0]]), np.concatenate([drop_w[:, 0], drop_a[:, 0]])).statistic
    return {
        "eval_samples": eval_samples,
        "layers": fisher_problem.n_layers,
        "bits": fisher_problem.bits,
        "fisher_seconds": sens.seconds,
        "fisher_images": sens.images,
        "spearman_every_width": float(every),
        "spearman_narrowest_width": float(at2),
        "runs": runs,
        "sensitivities": {
            "layers": fisher_problem.names,
            "fisher_weights": sens.weights.tolist(), "fisher_activations": sens.activations.tolist(),
            "measured_weights": drop_w.tolist(), "measured_activations": drop_a.tolist(),
        },
    }


def table(results: dict) -> str:
    lines = [
        "| model | budget x int8 | agent | val % | test % | latency ms | evaluations | wall s | to first candidate s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, entry in results["models"].items():
        for budget, pair in entry["runs"].items():
            for agent, r in pair.items():
                note = " (probes reused)" if r["probes_preloaded"] else ""
                lines.append(
                    f"| {model} | {budget} | {agent} | {100 * r['val_accuracy']:.2f} | {100 * r['test_accuracy']:.2f} | "
                    f"{r['latency_ms']:.4g} | {r['evaluations']} | {r['wall_s']:.0f}{note} | {r['to_first_candidate_s']:.1f} |"
                )
    lines.append("")
    lines.append("| model | validation images searched on | layers | Fisher pass s | calibration images | "
                 "Spearman, every narrower width | Spearman, narrowest width |")
    lines.append("|---|---|---|---|---|---|---|")
    for model, e in results["models"].items():
        lines.append(f"| {model} | {e['eval_samples']} | {e['layers']} | {e['fisher_seconds']:.1f} | {e['fisher_images']} | "
                     f"{e['spearman_every_width']:.2f} | {e['spearman_narrowest_width']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["fashion-cnn", "fashion-mobilenet"])
    p.add_argument("--budgets", nargs="+", type=float, default=[0.25, 0.4])
    p.add_argument("--eval-samples", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1, help="torch threads (search_quality.py runs searches on one each)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    images = 512  # FisherAgent's default
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"models": {}}
    results["setup"] = {
        "target": "bismo-edge", "seed": 0, "threads": args.threads,
        "torch": torch.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
    }
    for model in args.models:
        results["models"][model] = run_model(model, args.budgets, args.eval_samples, images)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
