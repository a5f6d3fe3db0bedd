"""Search speed: episodes per second and where the time goes.

Runs one search (default: the HAQ DDPG agent, 300 episodes on fashion-cnn / bismo-edge at
0.4 x int8 latency, accuracy on the first 2000 validation images) and reports

- set-up time (model, calibration, quantizer precompute, cost grid, float accuracy),
- search-loop time, episodes per second,
- time in accuracy evaluation vs everything else (agent updates, fitting, costing,
  bookkeeping, checkpoints); the target is under 20% outside evaluation,
- evaluations (distinct policies) vs episodes (cache hits are free).

DDPG's default search ends with a hill climb once half its episodes bring no new best, and
that climb may end early (a local optimum); ``--no-climb`` turns the climb off, so DDPG
learns for every one of the episodes (the slowest case; its sparse noise stays on;
written to ``search_speed_no_climb.json``).

``--prefix-reuse`` re-runs only the layers after the first changed one
(``hwsearch.quant.reuse``, off by default in the search) to see what it saves.

``python benchmarks/search_speed.py [--model M --target T] [--agent ddpg] [--episodes 300] [--checkpoint] [--no-climb] [--prefix-reuse] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsearch.search import run_search  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="fashion-cnn")
    p.add_argument("--target", default="bismo-edge")
    p.add_argument("--budget", type=float, default=0.4)
    p.add_argument("--agent", default="ddpg")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--eval-samples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", action="store_true", help="also checkpoint after every episode")
    p.add_argument("--no-climb", action="store_true", help="RL agents learn to the end (climb_after_stall None)")
    p.add_argument("--prefix-reuse", action="store_true", help="score with hwsearch.quant.reuse (off by default)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    name = "search_speed_no_climb.json" if args.no_climb else "search_speed.json"
    out = args.out or ROOT / "benchmarks" / "results" / name
    if args.prefix_reuse:
        from hwsearch.search import scoring

        scoring.PREFIX_REUSE = True
    options = {"climb_after_stall": None} if args.no_climb else None
    import torch

    first: list[float] = []

    def progress(p) -> None:
        if not first:
            first.append(time.perf_counter())

    body = {
        "model": args.model, "target": args.target, "budget": {"relative": args.budget}, "agent": args.agent,
        "episodes": args.episodes, "seed": args.seed, "eval_samples": args.eval_samples,
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_search(body, progress=progress, checkpoint_dir=tmp if args.checkpoint else None, agent_options=options)
    total = time.perf_counter() - start
    # set-up ends where the agent starts: approximated by the first episode's end minus
    # its own evaluation (the int8 baseline is evaluated during set-up)
    loop = result.wall_time_s
    outside = max(0.0, total - result.eval_seconds)
    report = {
        **body,
        "agent_options": options,
        "torch_threads": torch.get_num_threads(),
        "total_s": round(total, 2),
        "search_s": round(loop, 2),
        "episodes_done": len(result.history),
        "episodes_per_s": round(len(result.history) / total, 2),
        "evaluations": result.evaluations,
        "eval_s": round(result.eval_seconds, 2),
        "outside_eval_s": round(outside, 2),
        "outside_eval_share": round(outside / total, 3),
        "best_accuracy": result.best.accuracy,
        "checkpoint_every_episode": args.checkpoint,
        "prefix_reuse": args.prefix_reuse,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for k, v in report.items():
        print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
