"""How much of a deep search's scoring two speed-ups could save at most, read from the
searches already run (their ``history``: every policy in the order it was proposed, with
its accuracy on the search's images), without running a network.

- **Prefix reuse** (``hwsearch.quant.reuse``): a policy that shares its first k layers'
  bits with a kept policy needs only the layers after k. Upper bound: the share of the
  network's multiply-accumulates before the first layer where the policy differs from
  (a) the incumbent (the most accurate so far), (b) the best of the last four distinct
  policies, as if every cut of those were kept, whatever the memory.
- **An early estimate**: score a policy on the first n images and stop when it is clearly
  below the incumbent (more than ``--z`` standard errors at n = 250, 500, 1000). Each
  stop saves the rest of the images. The estimate at n is drawn as a binomial around
  the policy's measured accuracy (seeded); ``wrongly_stopped`` counts stops of a policy
  that was in fact within half a point of the incumbent, or better.

    python benchmarks/speed_headroom.py      # benchmarks/results/haq_mobilenetv2/runs/*__ddpg__*__2000.json
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = (250, 500, 1000)


def layer_macs(model: str, names: list[str]) -> list[int]:
    """Multiply-accumulates of each quantizable layer of ``model``, in ``names`` order."""
    import torch

    from hwsearch.core.graph import trace
    from hwsearch.zoo import build_model, model_dataset

    net = build_model(model)
    example = model_dataset(model).calib.x[:1]
    by_name = {s.name: s.macs for s in trace(net, torch.as_tensor(example))}
    return [by_name[n] for n in names]


def _first_change(a: tuple, b: tuple) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))


def _scored(history: list[dict], names: list[str]) -> list[tuple[tuple, float]]:
    """The distinct policies of a search in the order they were scored (a repeat is a cache
    hit: no scoring at all), each as its (weight, activation) bits per layer, with its accuracy."""
    seen, out = set(), []
    for record in history:
        key = tuple((record["policy"][n]["weight_bits"], record["policy"][n]["activation_bits"]) for n in names)
        if key not in seen:
            seen.add(key)
            out.append((key, record["accuracy"]))
    return out


def reuse_bound(histories: list[list[dict]], names: list[str], macs: list[int]) -> dict:
    """Mean share of MACs before the first changed layer, against the incumbent and the last four."""
    total = sum(macs)
    before = np.concatenate([[0], np.cumsum(macs)]) / total
    incumbent, recent = [], []
    for history in histories:
        seen: list[tuple] = []
        best, best_acc = None, -1.0
        for key, accuracy in _scored(history, names):
            if best is not None:
                incumbent.append(before[_first_change(key, best)])
                recent.append(max(before[_first_change(key, other)] for other in seen[-4:]))
            seen.append(key)
            if accuracy > best_acc:
                best, best_acc = key, accuracy
    return {"policies": len(incumbent), "share_skippable_vs_incumbent": round(float(np.mean(incumbent)), 3),
            "share_skippable_vs_last_four": round(float(np.mean(recent)), 3)}


def early_stop_bound(histories: list[list[dict]], names: list[str], images: int, z: float, seed: int = 0) -> dict:
    """Share of scoring time saved by stopping clearly worse policies at 250/500/1000 images."""
    rng = np.random.default_rng(seed)
    cost, full, wrong, stopped = 0.0, 0, 0, 0
    for history in histories:
        best = None
        for _, acc in _scored(history, names):
            share = 1.0
            if best is not None:
                for n in (s for s in STEPS if s < images):
                    estimate = rng.binomial(n, acc) / n
                    if estimate < best - z * math.sqrt(max(best * (1 - best), 1e-6) / n):
                        share, stopped, wrong = n / images, stopped + 1, wrong + (acc >= best - 0.005)
                        break
            cost, full = cost + share, full + 1
            best = acc if best is None else max(best, acc)
    return {"policies": full, "z": z, "stopped": stopped, "wrongly_stopped": wrong,
            "share_of_scoring_saved": round(1 - cost / full, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=str(ROOT / "benchmarks/results/haq_mobilenetv2/runs/*__ddpg__*__2000.json"),
                   help="run files of one model scored on one number of images")
    p.add_argument("--z", type=float, default=4.0)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed_headroom.json")
    args = p.parse_args()
    runs = [json.loads(Path(f).read_text()) for f in sorted(glob.glob(args.runs))]
    if not runs:
        sys.exit(f"no run files match {args.runs}")
    spec = runs[0]["spec"]
    names = list(runs[0]["history"][0]["policy"])
    histories = [r["history"] for r in runs]
    report = {"model": spec["model"], "runs": len(runs), "eval_samples": spec["eval_samples"],
              "prefix_reuse": reuse_bound(histories, names, layer_macs(spec["model"], names)),
              "early_estimate": early_stop_bound(histories, names, spec["eval_samples"], args.z)}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
