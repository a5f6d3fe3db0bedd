"""What a float layer among int8 ones costs that the measured table does not price.

For each layer of a model: export uniform int8 with that one layer in float, time it whole in
onnxruntime (one thread, batch 1) against the uniform int8 export, and compare the change
with what this machine's measured table (with its ``float-layers`` and ``requantized-by``
headers, as ``hwsearch hardware measure`` writes it) predicts. The residual is the
float-to-int8 entry the table leaves out: a QuantizeLinear, layout changes, and the ops
between the two layers (a pool) running outside either kernel's layout. It is the input a
future pair term "layer float while a consumer is integer" would be fitted to.

    python benchmarks/switch_probe.py [--models fashion-cnn,mobilenet-v2] [--repeats 20]

Results: benchmarks/results/switch_probe.json.
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

import torch  # noqa: E402

from hwsearch.core.policy import FLOAT_BITS, Policy  # noqa: E402
from hwsearch.export.calibrated import calibrate  # noqa: E402
from hwsearch.export.onnx_qdq import export_onnx  # noqa: E402
from hwsearch.search.measure import runtime_layers, time_runtime_layers_header  # noqa: E402
from hwsearch.search.problem import trace_model  # noqa: E402
from hwsearch.zoo import MODELS, build_model  # noqa: E402
from latency_tables.lookup import TableTarget  # noqa: E402
from latency_tables.measured import measure_specs, measured_table_text, time_samples  # noqa: E402
from latency_tables.table import parse_table  # noqa: E402
from hwsearch.search.entry_probe import trained_like_batchnorm  # noqa: E402
from predicted_vs_measured import _input_name  # noqa: E402


def probe(name: str, warmup: int, repeats: int, rounds: int = 3) -> dict:
    trained = MODELS[name].dataset is not None
    model = build_model(name, trained=trained)
    if not trained:
        trained_like_batchnorm(model)
    torch.manual_seed(0)
    calib = torch.randn(16, *MODELS[name].input_shape)
    x = calib[:1].numpy()
    specs = trace_model(name)
    names = list(dict.fromkeys(s.name for s in specs))
    results = measure_specs(specs, warmup=warmup, repeats=repeats)
    header = time_runtime_layers_header(specs, runtime_layers(name), warmup=warmup, repeats=repeats)
    table = TableTarget([parse_table(measured_table_text(results, "here", name, 1, warmup, repeats, header))])

    def export(policy: Policy) -> bytes:
        doc = {"layers": [{"name": n, "weight_bits": policy[n].weight_bits, "activation_bits": policy[n].activation_bits}
                          for n in names]}
        return export_onnx(calibrate(doc, model, calib), calib[:1])

    def timed(content: bytes) -> float:
        return statistics.median(time_samples(content, {_input_name(content): x}, warmup, repeats))

    int8 = Policy.uniform(names, 8)
    base = export(int8)
    rows = []
    for layer in names:
        policy = Policy({n: (FLOAT_BITS, FLOAT_BITS) if n == layer else (8, 8) for n in names})
        content = export(policy)
        pairs = [(timed(base), timed(content)) for _ in range(rounds)]  # interleaved against drift
        measured = statistics.median(b for _, b in pairs) - statistics.median(a for a, _ in pairs)
        predicted = table.policy_cost(specs, policy).latency_ms - table.policy_cost(specs, int8).latency_ms
        rows.append({"layer": layer, "measured_change_ms": measured, "table_change_ms": predicted,
                     "unpriced_ms": measured - predicted})
        print(f"{name} {layer:28} measured {measured:+.4f} table {predicted:+.4f} unpriced {measured - predicted:+.4f}", flush=True)
    unpriced = [r["unpriced_ms"] for r in rows]
    return {
        "model": name,
        "int8_measured_ms": timed(base),
        "int8_table_ms": table.policy_cost(specs, int8).latency_ms,
        "sign_agrees": sum((r["measured_change_ms"] > 0) == (r["table_change_ms"] > 0) for r in rows),
        "unpriced_median_ms": statistics.median(unpriced),
        "unpriced_min_ms": min(unpriced),
        "unpriced_max_ms": max(unpriced),
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
        print(f"{m['model']}: int8 {m['int8_measured_ms']:.4f} ms measured, {m['int8_table_ms']:.4f} table; change signs agree "
              f"{m['sign_agrees']}/{len(m['layers'])}; unpriced per layer median {m['unpriced_median_ms']:+.4f} ms "
              f"({m['unpriced_min_ms']:+.4f} to {m['unpriced_max_ms']:+.4f})")


if __name__ == "__main__":
    main()
