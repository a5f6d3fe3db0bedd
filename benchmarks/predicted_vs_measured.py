"""Does a measured table predict the exported model's real speed? And does mixing pay?

For each model (built-in 28x28 ones and mobilenet-v2, resnet-50 at ImageNet shape), on
this machine, one onnxruntime thread, batch 1:

1. measure the model's table (``hwsearch hardware measure``: each layer shape alone, int8
   and fp32 kernels, median of repeats);
2. build three policies: uniform int8, uniform fp32, and the table's fastest mix (each
   layer in whichever format the table says is faster: what a search returns when
   accuracy does not separate them); for a model with data, a fourth: the policy a
   search on the measured table returns (``fisher``, budget: uniform int8's predicted
   latency, widths 8 and 32), the mixed policy a user would deploy;
3. export each as the deployed model (QDQ ONNX; the float model for fp32), time it whole,
   and compare with the table's prediction: the plain sum of its layers' entries, the
   fusion-aware sum (layers the export leaves in float at their fp32 entry, read off the
   exported graph), and the table as ``hardware measure`` writes it (``table_ms``: its
   ``float-layers`` and ``requantized-by`` headers price each layer as the runtime will
   run it, without exporting: session 16's table), and the table with the whole model timed
   (``whole_model_table_ms``: its ``whole-model-scale`` and ``float-to-integer`` headers, as
   ``hardware measure`` writes them since session 17: uniform int8 and fp32 scaled to what
   they measure whole, and each layer's switch from float back into integer kernels priced;
   exact for the uniform rows by construction, up to timing noise, so the mixed rows test it);
4. for the models with data, the policy a search returns on each table: ``searched`` on
   session 17's, ``searched_session16`` on session 16's;
5. model the gap. A layer timed alone pays one ``session.run`` of fixed overhead that a
   whole model pays once (measured here with a one-node Identity model); in a whole QDQ
   model each int8 layer pays the quantize/dequantize work around it that the lone
   QLinearConv/QLinearMatMul (integer in, integer out) did not, and a mixed model pays a
   conversion at each switch between int8 and float layers. The two per-item costs are
   fitted by least squares over all models and policies. The corrected prediction is
   ``sum(layer) - overhead x (layers - 1) + int8_layers x c_int8 + boundaries x c_switch``;
   the report gives the error before and after (the fit is in-sample: few parameters,
   many rows).

The architecture-only models have random weights with BatchNorm statistics like a trained
net's (``hwsearch.search.whole_model.trained_like_batchnorm``).

``python benchmarks/predicted_vs_measured.py [--models digits-cnn,fashion-cnn,...] [--repeats 30]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from hwsearch.core.policy import FLOAT_BITS, Policy  # noqa: E402
from hwsearch.export.calibrated import calibrate  # noqa: E402
from hwsearch.export.onnx_qdq import export_onnx, float_onnx  # noqa: E402
from hwsearch.search.problem import trace_model  # noqa: E402
from hwsearch.search.whole_model import time_whole_model, trained_like_batchnorm  # noqa: E402
from hwsearch.search.measure import runtime_layers, runtime_layers_header, time_runtime_layers  # noqa: E402
from hwsearch.verify import integer_layers, runtime_reference  # noqa: E402
from hwsearch.zoo import MODELS, build_model  # noqa: E402
from latency_tables.lookup import TableTarget  # noqa: E402
from latency_tables.measured import measure_specs, measured_table_text, time_samples  # noqa: E402
from latency_tables.table import parse_table  # noqa: E402

DEFAULT_MODELS = "digits-cnn,fashion-cnn,fashion-mobilenet,mobilenet-v2,resnet-50"


def session_overhead(repeats: int) -> float:
    """Median ms of one ``session.run`` of a one-node Identity model: what each layer timed
    alone pays on top of its kernel."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return statistics.median(time_samples(model.SerializeToString(), {"x": np.zeros((1, 16), np.float32)}, 20, repeats * 10))


def boundaries(policy: Policy, names: list[str]) -> int:
    """Switches between an int8 and a float layer along the execution order."""
    kinds = [policy[n].weight_bits == FLOAT_BITS for n in names]
    return sum(a != b for a, b in zip(kinds, kinds[1:]))


def fused_ops(content: bytes) -> dict[str, int]:
    """Node types of the model after onnxruntime's graph optimisations: whether each QDQ
    layer became an integer kernel (QLinearConv, QGemm, ...) or stayed a float op."""
    import collections
    import tempfile

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(content, options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath).graph
    counts = collections.Counter(node.op_type for node in graph.node)
    return {op: counts[op] for op in sorted(counts) if op in {"Conv", "QLinearConv", "Gemm", "QGemm", "MatMul", "QLinearMatMul", "MatMulInteger", "FusedConv", "QuantizeLinear", "DequantizeLinear", "BatchNormalization"}}


def _input_name(content: bytes) -> str:
    graph = onnx.load_from_string(content).graph
    initializers = {i.name for i in graph.initializer}
    return next(i.name for i in graph.input if i.name not in initializers)


def run_model(name: str, warmup: int, repeats: int) -> dict:
    trained = name in MODELS and MODELS[name].dataset is not None
    model = build_model(name, trained=trained)
    if not trained:
        trained_like_batchnorm(model)
    shape = MODELS[name].input_shape
    torch.manual_seed(0)
    calib = torch.randn(16, *shape)
    specs = trace_model(name)
    names = list(dict.fromkeys(s.name for s in specs))
    start = time.perf_counter()
    results = measure_specs(specs, warmup=warmup, repeats=repeats)
    measure_s = time.perf_counter() - start
    target = TableTarget([parse_table(measured_table_text(results, "here", name, 1, warmup, repeats))])
    int8 = Policy.uniform(names, 8)
    fp32 = Policy.uniform(names, FLOAT_BITS)
    faster = {}
    for n in names:
        layer = [s for s in specs if s.name == n]
        at = lambda b: sum(target.cost(s, b, b).latency_ms for s in layer)  # noqa: E731
        faster[n] = 8 if at(8) <= at(FLOAT_BITS) else FLOAT_BITS
    mixed = Policy({n: (b, b) for n, b in faster.items()})
    x = calib[:1].numpy()
    rows = {}
    # the table as `hardware measure` writes it: which layers run in float, and which fall back to
    # float when the next layer takes a float input, each timed in place
    runtime = runtime_layers(name)
    in_place = time_runtime_layers(specs, runtime, warmup=warmup, repeats=repeats)
    aware_text = measured_table_text(results, "here", name, 1, warmup, repeats, runtime_layers_header(runtime, in_place))
    aware = TableTarget([parse_table(aware_text)])

    def export(label: str, policy: Policy) -> bytes:
        if label == "fp32":
            return float_onnx(model, calib[:1]).SerializeToString()
        doc = {"layers": [{"name": n, "weight_bits": policy[n].weight_bits, "activation_bits": policy[n].activation_bits} for n in names]}
        return export_onnx(calibrate(doc, model, calib), calib[:1])

    contents = {label: export(label, policy) for label, policy in (("uniform_int8", int8), ("fp32", fp32))}
    # and the whole model, as `hardware measure` times it since session 17: the table scaled so
    # uniform int8 and fp32 cost what they measure whole, and each layer's switch from float back
    # into integer kernels priced (its own exports and timings, not the rows timed below)
    start = time.perf_counter()

    def table_with(extra: dict[str, str]) -> str:
        return measured_table_text(results, "here", name, 1, warmup, repeats, {**runtime_layers_header(runtime, in_place), **extra})

    whole_header = time_whole_model(name, specs, runtime, table_with, warmup=warmup, repeats=repeats)
    whole_s = time.perf_counter() - start
    whole_text = table_with(whole_header)
    whole_model = TableTarget([parse_table(whole_text)])
    policies = [("uniform_int8", int8), ("fp32", fp32), ("fastest_mix", mixed)]
    if trained:
        policies.append(("searched", searched_policy(name, whole_text)))
        policies.append(("searched_session16", searched_policy(name, aware_text)))
    for label, policy in policies:
        content = contents.get(label) or export(label, policy)
        samples = time_samples(content, {_input_name(content): x}, warmup, repeats)
        integer = integer_layers(content, {n: f"{n}.weight" for n in names}) if label != "fp32" else set()
        fusion_aware = target.policy_cost(specs, runtime_reference(policy, names, integer)).latency_ms
        rows[label] = {
            "predicted_ms": target.policy_cost(specs, policy).latency_ms,
            "table_ms": aware.policy_cost(specs, policy).latency_ms,
            "whole_model_table_ms": whole_model.policy_cost(specs, policy).latency_ms,
            "integer_layers": len(integer),
            "fusion_aware_ms": fusion_aware,
            "measured_ms": statistics.median(samples),
            "measured_p10_ms": statistics.quantiles(samples, n=10)[0],
            "measured_p90_ms": statistics.quantiles(samples, n=10)[-1],
            "layers": len(specs),
            "float_layers": sum(policy[n].weight_bits == FLOAT_BITS for n in names),
            "boundaries": boundaries(policy, names),
            "ops_after_optimisation": fused_ops(content),
            "bits": {n: [policy[n].weight_bits, policy[n].activation_bits] for n in names} if len(names) <= 24 else None,
        }
    return {"model": name, "input": list(shape), "trained_weights": trained, "measure_table_s": round(measure_s, 1),
            "time_whole_model_s": round(whole_s, 1),
            "whole_model_scale": json.loads(whole_header.get("whole-model-scale", "{}")),
            "float_to_integer_ms": {row[0]: row[3] for row in json.loads(whole_header.get("float-to-integer", "[]"))},
            "policies": rows}


def searched_policy(name: str, table_text: str) -> Policy:
    """What a search on this machine's table returns for ``name``: the fisher agent (one
    backward pass, five candidates) at uniform int8's predicted latency, widths 8 and 32."""
    import tempfile

    from hwsearch.search import run_search
    from latency_tables.measured import write_measured_table

    with tempfile.TemporaryDirectory() as tmp:
        path = write_measured_table(Path(tmp) / f"{name}.csv", table_text)
        result = run_search({"model": name, "target": str(path), "budget": {"relative": 1.0}, "agent": "fisher",
                             "episodes": 5, "eval_samples": 500, "weight_bits": "8,32", "activation_bits": "8,32"})
    return result.best.policy


def fit_gap(models: list[dict], overhead: float) -> tuple[float, float]:
    """Least-squares (ms per int8 layer, ms per int8/float switch) after the overhead correction."""
    rows = [row for m in models for row in m["policies"].values()]
    features = np.array([[row["layers"] - row["float_layers"], row["boundaries"]] for row in rows], dtype=float)
    residual = np.array([row["measured_ms"] - corrected(row, overhead, (0.0, 0.0)) for row in rows])
    coef, *_ = np.linalg.lstsq(features, residual, rcond=None)
    return float(coef[0]), float(coef[1])


def corrected(row: dict, overhead: float, gap: tuple[float, float]) -> float:
    per_int8, per_switch = gap
    int8_layers = row["layers"] - row["float_layers"]
    return row["predicted_ms"] - overhead * (row["layers"] - 1) + per_int8 * int8_layers + per_switch * row["boundaries"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=DEFAULT_MODELS)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "predicted_vs_measured.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    overhead = session_overhead(args.repeats)
    models = []
    for name in args.models.split(","):
        models.append(run_model(name, args.warmup, args.repeats))
        print(json.dumps(models[-1]), flush=True)
    gap = fit_gap(models, overhead)
    for m in models:
        for row in m["policies"].values():
            row["ratio"] = row["measured_ms"] / row["predicted_ms"]
            row["corrected_ms"] = corrected(row, overhead, gap)
            row["corrected_ratio"] = row["measured_ms"] / row["corrected_ms"]
            row["fusion_aware_ratio"] = row["measured_ms"] / row["fusion_aware_ms"]
            row["table_ratio"] = row["measured_ms"] / row["table_ms"]
            row["whole_model_table_ratio"] = row["measured_ms"] / row["whole_model_table_ms"]
        pol = m["policies"]
        m["mix_speedup_vs_int8"] = pol["uniform_int8"]["measured_ms"] / pol["fastest_mix"]["measured_ms"]
        m["mix_speedup_vs_fp32"] = pol["fp32"]["measured_ms"] / pol["fastest_mix"]["measured_ms"]
        for label in ("searched", "searched_session16"):
            if label in pol:
                m[f"{label}_speedup_vs_int8"] = pol["uniform_int8"]["measured_ms"] / pol[label]["measured_ms"]
                m[f"{label}_speedup_vs_fp32"] = pol["fp32"]["measured_ms"] / pol[label]["measured_ms"]
    doc = {
        "benchmark": "predicted_vs_measured",
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
        "threads": 1,
        "batch": 1,
        "session_overhead_ms": overhead,
        "fitted_int8_layer_ms": gap[0],
        "fitted_switch_ms": gap[1],
        "within_20pct_before": sum(abs(r["ratio"] - 1) <= 0.2 for m in models for r in m["policies"].values()),
        "within_20pct_after": sum(abs(r["corrected_ratio"] - 1) <= 0.2 for m in models for r in m["policies"].values()),
        "within_20pct_fusion_aware": sum(abs(r["fusion_aware_ratio"] - 1) <= 0.2 for m in models for r in m["policies"].values()),
        "within_20pct_table": sum(abs(r["table_ratio"] - 1) <= 0.2 for m in models for r in m["policies"].values()),
        # uniform rows are exact by construction: count only the others
        "mixed_rows": sum(1 for m in models for k in m["policies"] if k not in ("uniform_int8", "fp32")),
        "mixed_within_20pct_table": sum(abs(r["table_ratio"] - 1) <= 0.2 for m in models for k, r in m["policies"].items() if k not in ("uniform_int8", "fp32")),
        "within_20pct_whole_model_table": sum(abs(r["whole_model_table_ratio"] - 1) <= 0.2 for m in models for r in m["policies"].values()),
        "mixed_within_20pct_whole_model_table": sum(abs(r["whole_model_table_ratio"] - 1) <= 0.2 for m in models for k, r in m["policies"].items() if k not in ("uniform_int8", "fp32")),
        "rows": sum(len(m["policies"]) for m in models),
        "models": models,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'model':20} {'policy':19} {'pred ms':>9} {'meas ms':>9} {'ratio':>6} {'corr':>6} {'int layers':>10} {'fusion ms':>9} {'ratio':>6} {'table ms':>9} {'ratio':>6} {'whole ms':>9} {'ratio':>6}")
    for m in models:
        for label, row in m["policies"].items():
            print(f"{m['model']:20} {label:19} {row['predicted_ms']:9.4f} {row['measured_ms']:9.4f} {row['ratio']:6.2f} {row['corrected_ratio']:6.2f}"
                  f" {row['integer_layers']:>4}/{row['layers'] - row['float_layers']:<5} {row['fusion_aware_ms']:9.4f} {row['fusion_aware_ratio']:6.2f}"
                  f" {row['table_ms']:9.4f} {row['table_ratio']:6.2f} {row['whole_model_table_ms']:9.4f} {row['whole_model_table_ratio']:6.2f}")
    print(f"session overhead {overhead * 1000:.1f} us; fitted per int8 layer {gap[0] * 1000:.1f} us, per switch {gap[1] * 1000:.1f} us")


if __name__ == "__main__":
    main()
