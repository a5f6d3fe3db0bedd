"""How long costing one policy takes, per target, once the cost grid is built.

Run: ``.venv/bin/python benchmarks/cost_speed.py``; writes benchmarks/results/cost_speed.json.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from hwsearch.core.graph import layer_names, trace
from hwsearch.core.policy import Policy
from hwsearch.zoo import build_model, example_input
from latency_tables import get_target

RESULT = Path(__file__).parent / "results" / "cost_speed.json"


def main(repeats: int = 2000, seed: int = 0) -> dict:
    """Time policy_cost and a numpy-indexed cost over random policies."""
    rng = np.random.default_rng(seed)
    out: dict = {"python": platform.python_version(), "machine": platform.machine(), "repeats": repeats, "results": []}
    for model in ("mobilenet-v2", "resnet-50"):
        specs = trace(build_model(model, trained=False), example_input(model))
        names = layer_names(specs)
        policies = [Policy({n: (int(rng.integers(2, 9)), int(rng.integers(2, 9))) for n in names}) for _ in range(64)]
        for name in ("bitfusion", "bismo-edge", "bismo-cloud"):
            target = get_target(name)
            start = time.perf_counter()
            grid = target.cost_array(specs)
            build_s = time.perf_counter() - start
            target.policy_cost(specs, policies[0])
            start = time.perf_counter()
            for i in range(repeats):
                target.policy_cost(specs, policies[i % len(policies)])
            per_policy = (time.perf_counter() - start) / repeats
            w = rng.integers(0, 7, (repeats, len(specs)))
            a = rng.integers(0, 7, (repeats, len(specs)))
            rows = np.arange(len(specs))
            start = time.perf_counter()
            for i in range(repeats):
                grid[rows, w[i], a[i], 0].sum()
            indexed = (time.perf_counter() - start) / repeats
            out["results"].append({
                "model": model, "layers": len(specs), "target": name,
                "grid_build_ms": round(build_s * 1e3, 3),
                "policy_cost_us": round(per_policy * 1e6, 2),
                "indexed_latency_us": round(indexed * 1e6, 2),
            })
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    for row in main()["results"]:
        print(f"{row['model']:13s} {row['target']:12s} layers {row['layers']:3d}  grid {row['grid_build_ms']:7.2f} ms  "
              f"policy_cost {row['policy_cost_us']:7.1f} us  indexed {row['indexed_latency_us']:5.1f} us")
    print(f"wrote {RESULT}")
