"""What re-running only the layers after the first changed one saves (``hwsearch.quant.reuse``).

Replays the policies a search measured, in its order, through two scorers of the same
problem: one with prefix reuse, one scoring every policy by a full forward pass; reports
the seconds of each and checks they give the same accuracies. The search comes from a
policy-file-like JSON with ``spec`` and ``history`` (``run_search(...).to_dict()``), or
is run first.

    python benchmarks/prefix_reuse.py --model fashion-mobilenetv2 --target haq-mobilenetv2 --budget 0.5 --episodes 300
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
from hwsearch.search import build_problem, run_search, spec_from_dict  # noqa: E402


def replay(spec: dict, policies: list[Policy], reuse: bool) -> tuple[list[float], float]:
    """Accuracies of ``policies`` and the seconds spent scoring them."""
    from hwsearch.search import scoring

    scoring.PREFIX_REUSE = reuse
    scorer = build_problem(spec_from_dict(spec)).scorer
    start = time.perf_counter()
    values = [scorer.accuracy(p) for p in policies]
    return values, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="fashion-mobilenetv2")
    p.add_argument("--target", default="haq-mobilenetv2")
    p.add_argument("--budget", type=float, default=0.5)
    p.add_argument("--agent", default="ddpg")
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--eval-samples", type=int, default=2000)
    p.add_argument("--history", type=Path, help="a search result JSON to replay instead of running one")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "prefix_reuse.json")
    args = p.parse_args()
    if args.history:
        data = json.loads(args.history.read_text())
    else:
        spec = {"model": args.model, "target": args.target, "budget": {"relative": args.budget}, "agent": args.agent,
                "episodes": args.episodes, "eval_samples": args.eval_samples, "seed": 0}
        data = run_search(spec).to_dict()
    spec = {**data["spec"], "agent": "uniform"}
    seen, policies = set(), []
    for record in data["history"]:
        policy = Policy.from_dict(record["policy"])
        if policy not in seen:
            seen.add(policy)
            policies.append(policy)
    full, full_s = replay(spec, policies, reuse=False)
    reused, reused_s = replay(spec, policies, reuse=True)
    assert full == reused, "prefix reuse changed an accuracy"
    report = {"model": spec["model"], "target": spec["target"], "eval_samples": spec["eval_samples"], "policies": len(policies),
              "full_pass_s": round(full_s, 1), "prefix_reuse_s": round(reused_s, 1), "speedup": round(full_s / reused_s, 2),
              "same_accuracies": True}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
