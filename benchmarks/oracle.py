"""Each agent against the exact optimum of a small search space.

The space: a 6-layer model (fashion-cnn, or --model digits-cnn) on bismo-edge for
latency, weights and activations each in {3, 4} bits: 4,096 policies. Every policy under the budget is scored with the
search's own scorer (the first --eval-samples validation images), which gives the exact
optimum; then each agent searches the same space for --episodes over --seeds, with
confirmation off so that what is compared is what the search found on those images. The
gap is optimum minus the agent's best, in accuracy points.

    python benchmarks/oracle.py [--budgets 0.38,0.42] [--seeds 0,1,2] [--agents ddpg,ddpg-fresh,...]

``ddpg-fresh`` is the default DDPG with ``fresh_proposals`` (no episode on a policy the run
already measured); ``ddpg-no-restarts`` is the default before climb restarts (the search
ends when its climb reaches a local optimum); ``haq-ddpg`` is HAQ's plain DDPG. Results go to benchmarks/results/oracle.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsearch.search import build_problem, run_search  # noqa: E402
from agent_variants import resolve  # noqa: E402
from probe_store import Preload  # noqa: E402

BASE = {"model": "fashion-cnn", "target": "bismo-edge", "objective": "latency", "weight_bits": "3,4", "activation_bits": "3,4",
        "confirm_top": 0}


def optimum(spec: dict) -> tuple[dict, list]:
    """Every feasible policy scored: the best one, how many there are, how long it took;
    and every (policy, accuracy) measured."""
    problem = build_problem(spec)
    start = time.perf_counter()
    n = problem.n_layers
    best, scored = None, []
    for bits in itertools.product((0, 1), repeat=2 * n):
        w, a = np.array(bits[:n]), np.array(bits[n:])
        if not problem.fits(w, a):
            continue
        acc = problem.accuracy_of(w, a)
        scored.append((problem.to_policy(w, a), acc))
        if best is None or acc > best[0]:
            best = (acc, scored[-1][0])
        if len(scored) % 250 == 0:
            print(f"  {len(scored)} feasible policies scored ({time.perf_counter() - start:.0f} s)", flush=True)
    summary = {"accuracy": best[0], "policy": best[1].to_dict(), "feasible": len(scored), "space": 2 ** (2 * n),
               "seconds": round(time.perf_counter() - start, 1)}
    return summary, scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fashion-cnn", help="a built-in model (fashion-cnn: about 0.1 s per policy on 200 images here)")
    parser.add_argument("--budgets", default="0.38,0.42")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--agents", default="ddpg,ddpg-no-starts,haq-ddpg,random,evolution,greedy,ilp,fisher,uniform")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--eval-samples", type=int, default=2000, help="validation images the scorer uses; 0 = all")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "oracle.json")
    args = parser.parse_args()
    cells = []
    for budget in (float(b) for b in args.budgets.split(",")):
        spec = {**BASE, "model": args.model, "budget": {"relative": budget}, "eval_samples": args.eval_samples or None, "episodes": args.episodes, "agent": "random"}
        best, scored = optimum(spec)
        print(f"budget {budget}: optimum {100 * best['accuracy']:.2f}% over {best['feasible']} feasible policies ({best['seconds']} s)", flush=True)
        runs = []
        for label in args.agents.split(","):
            agent, options = resolve(label)
            for seed in (int(s) for s in args.seeds.split(",")):
                start = time.perf_counter()
                result = run_search({**spec, "agent": agent, "seed": seed, "agent_options": options}, callbacks=[Preload(scored)])
                gap = 100 * (best["accuracy"] - result.best.accuracy)
                distinct = len({p.policy for p in result.history})
                runs.append({"agent": label, "seed": seed, "accuracy": result.best.accuracy, "gap_points": round(gap, 3),
                             "episodes": len(result.history), "evaluations": result.evaluations - len(scored) + distinct,
                             "distinct": distinct, "seconds": round(time.perf_counter() - start, 1)})
                print(f"  {label:11} seed {seed}: {100 * result.best.accuracy:.2f}% gap {gap:.2f} "
                      f"({runs[-1]['distinct']} distinct of {runs[-1]['episodes']} episodes, {runs[-1]['seconds']} s)", flush=True)
        cells.append({"model": args.model, "budget": budget, "optimum": best, "runs": runs})
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"benchmark": "oracle", "space": BASE, "episodes": args.episodes,
                                        "eval_samples": args.eval_samples, "cells": cells}, indent=2) + "\n")
    print("worst gap per agent (points):")
    for label in args.agents.split(","):
        gaps = [r["gap_points"] for c in cells for r in c["runs"] if r["agent"] == label]
        print(f"  {label:11} worst {max(gaps):.2f}  mean {sum(gaps) / len(gaps):.2f}")


if __name__ == "__main__":
    main()
