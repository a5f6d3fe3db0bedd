"""bismo-cloud against HAQ's released MobileNetV2 table, layer by layer.

Run: ``.venv/bin/python benchmarks/bismo_fidelity.py [--label NAME]``. Writes
benchmarks/results/bismo_fidelity.json, keeping runs stored under other labels, so the
figures before and after a simulator change sit side by side.

Rows are the 53 layers of the built-in ``mobilenet-v2`` traced at ImageNet shape (row i of
HAQ's table is layer i). Targets are read table-first, as a search sees them.

- Regime (``latency_tables/regimes.py``): with L(w, a) a table's latency of the layer,
  r_w = L(2, 8) / L(8, 8) and r_a = L(8, 2) / L(8, 8). An operand moves the cost when its
  r <= 0.625 (half the saving of a cost proportional to its bits). A layer is
  weights-bound (only w moves it), activations-bound (only a), both, or neither.
  Agreement is the fraction of layers with the same regime in both tables; it is also
  given at thresholds 0.5 and 0.75 to show how much hangs on the choice.
- Rank correlation: Spearman's rho of the per-layer latency at w = a = 8.
- Per kind: stem conv, depthwise, pointwise expand (1x1 widening, including the last
  320->1280 conv), pointwise project (1x1 narrowing) and the classifier.
- Scale: HAQ's units divided by the simulator's cycles over all (layer, w, a) cells.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from hwsearch.core.graph import trace
from hwsearch.zoo import build_model, example_input
from latency_tables import get_target
from latency_tables.regimes import KINDS, MOVES, layer_kind, regime
from latency_tables.registry import SIMULATED

RESULT = Path(__file__).parent / "results" / "bismo_fidelity.json"
TARGETS = ("bismo-cloud", "bismo-edge")  # both at HAQ's batch of 16
THRESHOLDS = (0.5, MOVES, 0.75)
W8, W2 = 6, 0  # indices of 8 and 2 bits in a grid over bits 2..8


def regimes(grid: np.ndarray, moves: float = MOVES) -> list[str]:
    """Regime of each layer of a [layer, w, a] latency grid over bits 2..8."""
    return [regime(g[W8, W8], g[W2, W8], g[W8, W2], moves) for g in grid]


def rho(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho, or None for fewer than three layers."""
    return round(float(spearmanr(x, y).statistic), 3) if len(x) >= 3 else None


def compare(name: str, specs, haq: np.ndarray) -> dict:
    """One target against HAQ's grid: agreement, rank correlation, per kind and per layer."""
    target = get_target(name, batch=16)
    grid = target.cost_array(specs, range(2, 9))[..., 0]
    ours, theirs = regimes(grid), regimes(haq)
    agree = np.array([a == b for a, b in zip(ours, theirs)])
    kinds = [layer_kind(s) for s in specs]
    per_kind = {}
    for kind in KINDS:
        idx = [i for i, k in enumerate(kinds) if k == kind]
        per_kind[kind] = {
            "layers": len(idx),
            "agree": int(agree[idx].sum()),
            "rank_corr_int8": rho(haq[idx, W8, W8], grid[idx, W8, W8]),
        }
    cycles = grid * SIMULATED[name]().config.freq_hz / 1e3
    scale = haq / cycles
    return {
        "target": name,
        "batch": target.batch,
        "regime_agreement": round(float(agree.mean()), 3),
        "agree_layers": int(agree.sum()),
        "agreement_at_threshold": {str(t): round(float(np.mean([a == b for a, b in zip(regimes(grid, t), regimes(haq, t))])), 3) for t in THRESHOLDS},
        "rank_corr_int8": rho(haq[:, W8, W8], grid[:, W8, W8]),
        "regime_counts": {r: ours.count(r) for r in ("both", "weights", "activations", "neither")},
        "uniform_4_over_8": round(float(grid[:, 2, 2].sum() / grid[:, W8, W8].sum()), 3),
        "uniform_2_over_8": round(float(grid[:, W2, W2].sum() / grid[:, W8, W8].sum()), 3),
        "haq_units_per_cycle": {"median": round(float(np.median(scale)), 3), "p5": round(float(np.percentile(scale, 5)), 3),
                                "p95": round(float(np.percentile(scale, 95)), 3)},
        "per_kind": per_kind,
        "layers": [
            {"row": i, "name": s.name, "kind": kinds[i], "haq": theirs[i], "ours": ours[i],
             "haq_r_w": round(float(haq[i, W2, W8] / haq[i, W8, W8]), 3), "haq_r_a": round(float(haq[i, W8, W2] / haq[i, W8, W8]), 3),
             "r_w": round(float(grid[i, W2, W8] / grid[i, W8, W8]), 3), "r_a": round(float(grid[i, W8, W2] / grid[i, W8, W8]), 3),
             "ms_int8": float(grid[i, W8, W8])}
            for i, s in enumerate(specs)
        ],
    }


def main(label: str) -> dict:
    specs = trace(build_model("mobilenet-v2", trained=False), example_input("mobilenet-v2"))
    haq = get_target("haq-mobilenetv2").cost_array(specs, range(2, 9))[..., 0]
    haq_regimes = regimes(haq)
    run = {
        "haq": {"regime_counts": {r: haq_regimes.count(r) for r in ("both", "weights", "activations", "neither")},
                "uniform_4_over_8": round(float(haq[:, 2, 2].sum() / haq[:, W8, W8].sum()), 3),
                "uniform_2_over_8": round(float(haq[:, W2, W2].sum() / haq[:, W8, W8].sum()), 3)},
        "targets": [compare(name, specs, haq) for name in TARGETS],
    }
    runs = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    runs.setdefault("definition", __doc__.split("\n\n", 2)[2].strip())
    runs.setdefault("runs", {})[label] = run
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(runs, indent=1) + "\n")
    return run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="current", help="store this run under LABEL (e.g. before, after)")
    args = parser.parse_args()
    result = main(args.label)
    print(f"HAQ regimes: {result['haq']['regime_counts']}")
    for t in result["targets"]:
        kinds = ", ".join(f"{k} {v['agree']}/{v['layers']}" for k, v in t["per_kind"].items())
        print(f"{t['target']} (batch {t['batch']}): regime agreement {t['agree_layers']}/53 = {t['regime_agreement']:.3f} "
              f"(at 0.5/0.625/0.75: {list(t['agreement_at_threshold'].values())}), rank corr int8 {t['rank_corr_int8']:.3f}; {kinds}")
        print(f"  regimes {t['regime_counts']}; uniform 4/8 {t['uniform_4_over_8']}, 2/8 {t['uniform_2_over_8']}; "
              f"HAQ units per cycle {t['haq_units_per_cycle']}")
    print(f"wrote {RESULT}")
