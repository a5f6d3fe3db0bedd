"""Does the table's float-to-integer pricing hold on timings it was not fitted to?

For each model: build the table as ``hwsearch hardware measure`` writes it (lone layers,
the runtime's layers, then the whole model: ``whole-model-scale`` and ``float-to-integer``),
then time again, independently, uniform int8 with each layer in float against uniform int8
(the same policies the probe timed, new sessions and samples), and compare the measured
change with the change the table predicts with and without its ``float-to-integer``
entries. What is left (``unpriced``) is the pricing's error on fresh timings: the probe's
own noise plus what one term per layer cannot say. One thread, batch 1.

    python benchmarks/switch_probe.py [--models fashion-cnn,mobilenet-v2] [--repeats 20]

Results: benchmarks/results/switch_probe.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from hwsearch.core.policy import FLOAT_BITS, Policy  # noqa: E402
from hwsearch.search.measure import runtime_layers, runtime_layers_header, time_runtime_layers  # noqa: E402
from hwsearch.search.problem import trace_model  # noqa: E402
from hwsearch.search.whole_model import WholeModelTimer, time_whole_model  # noqa: E402
from latency_tables.lookup import TableTarget  # noqa: E402
from latency_tables.measured import measure_specs, measured_table_text  # noqa: E402
from latency_tables.table import parse_table  # noqa: E402


def summary(values: list[float]) -> dict[str, float]:
    return {"median_abs_ms": statistics.median(abs(v) for v in values), "min_ms": min(values), "max_ms": max(values)}


def probe(name: str, warmup: int, repeats: int, rounds: int = 3) -> dict:
    specs = trace_model(name)
    results = measure_specs(specs, warmup=warmup, repeats=repeats)
    runtime = runtime_layers(name)
    in_place = time_runtime_layers(specs, runtime, warmup=warmup, repeats=repeats)

    def table_with(extra: dict[str, str]) -> str:
        return measured_table_text(results, "here", name, 1, warmup, repeats, {**runtime_layers_header(runtime, in_place), **extra})

    start = time.perf_counter()
    header = time_whole_model(name, specs, runtime, table_with, warmup=warmup, repeats=repeats)
    probe_s = time.perf_counter() - start
    priced = TableTarget([parse_table(table_with(header))])
    unpriced_table = TableTarget([parse_table(table_with({k: v for k, v in header.items() if k != "float-to-integer"}))])
    timer = WholeModelTimer(name, specs, warmup=warmup, repeats=repeats)
    int8 = timer.uniform(8)
    base = timer.export(int8)
    rows = []
    for layer, _, _ in runtime.requantized_by:
        policy = Policy({n: (FLOAT_BITS, FLOAT_BITS) if n == layer else (8, 8) for n in timer.names})
        content = timer.export(policy)
        pairs = [(timer.time(base), timer.time(content)) for _ in range(rounds)]  # interleaved against drift
        measured = statistics.median(b for _, b in pairs) - statistics.median(a for a, _ in pairs)
        with_entries = priced.policy_cost(specs, policy).latency_ms - priced.policy_cost(specs, int8).latency_ms
        without = unpriced_table.policy_cost(specs, policy).latency_ms - unpriced_table.policy_cost(specs, int8).latency_ms
        rows.append({"layer": layer, "measured_change_ms": measured, "table_change_ms": with_entries,
                     "table_change_without_entries_ms": without, "unpriced_ms": measured - with_entries,
                     "unpriced_without_entries_ms": measured - without})
        print(f"{name} {layer:28} measured {measured:+.4f} table {with_entries:+.4f} (without entries {without:+.4f})", flush=True)
    int8_ms = timer.time(base)
    return {
        "model": name,
        "int8_measured_ms": int8_ms,
        "int8_table_ms": priced.policy_cost(specs, int8).latency_ms,
        "time_whole_model_s": round(probe_s, 1),
        "sign_agrees": sum((r["measured_change_ms"] > 0) == (r["table_change_ms"] > 0) for r in rows),
        "sign_agrees_without_entries": sum((r["measured_change_ms"] > 0) == (r["table_change_without_entries_ms"] > 0) for r in rows),
        "unpriced": summary([r["unpriced_ms"] for r in rows]),
        "unpriced_without_entries": summary([r["unpriced_without_entries_ms"] for r in rows]),
        "layers": rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="fashion-cnn,mobilenet-v2")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "switch_probe.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    models = [probe(name, args.warmup, args.repeats) for name in args.models.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "switch_probe", "threads": 1, "batch": 1, "models": models}, indent=2) + "\n")
    for m in models:
        n = len(m["layers"])
        print(f"{m['model']}: int8 {m['int8_measured_ms']:.4f} ms measured, {m['int8_table_ms']:.4f} table; change signs agree "
              f"{m['sign_agrees']}/{n} ({m['sign_agrees_without_entries']}/{n} without entries); unpriced per layer, median |.| "
              f"{m['unpriced']['median_abs_ms']:.4f} ms ({m['unpriced_without_entries']['median_abs_ms']:.4f} without entries)")


if __name__ == "__main__":
    main()
