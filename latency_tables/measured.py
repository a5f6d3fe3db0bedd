"""A measured target: time real onnxruntime kernels for each layer shape of a model.

For every distinct ``LayerSpec.shape_key`` this builds a one-node ONNX model twice: float
(``Conv`` / ``MatMul``, the fp32 kernel) and int8 (``QLinearConv`` / ``QLinearMatMul``,
uint8 activations x int8 weights, the runtime's real quantized kernels), and times each
on one thread with warm-up and repeats, keeping the median and recording the spread (the
interquartile range of the repeats, column ``latency_spread``). onnxruntime has no kernel
taking activations below 8 bits, so the table lists widths 8 and 32: the search
restricts itself to them (``supported_bits == [8]``) and lower widths, if asked, run on
the 8-bit kernel. Half precision (16) is offered only where the execution provider runs
an fp16 Conv natively; the CPU provider runs it through Cast nodes to fp32, so it is not
(``fp16_native``; the table's ``formats`` header says which were found). Energy is not
measured (units ``energy=n/a``).
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from hwsearch.core.graph import LayerSpec
from latency_tables.table import format_table

GENERATOR = f"latency_tables.measured (onnxruntime {ort.__version__})"
MEASURED_BITS = [8, 32]
OPSET = 13


def _initializers(named: dict[str, np.ndarray]) -> list[onnx.TensorProto]:
    return [numpy_helper.from_array(value, name) for name, value in named.items()]


def _scalar(value: float | int, dtype: type) -> np.ndarray:
    return np.array(value, dtype=dtype)


def layer_model(spec: LayerSpec, batch: int, quantized: bool, rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """A one-node ONNX model for ``spec`` and a matching input feed."""
    kh, kw = spec.kernel_size
    if spec.op == "conv2d":
        x_shape = [batch, spec.in_channels, *spec.in_hw]
        w = rng.standard_normal((spec.out_channels, spec.in_channels // spec.groups, kh, kw)).astype(np.float32)
        attrs = dict(kernel_shape=[kh, kw], strides=list(spec.stride), pads=[*spec.padding, *spec.padding], group=spec.groups)
        y_shape = [batch, spec.out_channels, *spec.out_hw]
    else:
        rows = spec.out_hw[1] * batch
        x_shape = [rows, spec.in_channels]
        w = rng.standard_normal((spec.in_channels, spec.out_channels)).astype(np.float32)
        attrs = {}
        y_shape = [rows, spec.out_channels]
    if not quantized:
        op = "Conv" if spec.op == "conv2d" else "MatMul"
        node = helper.make_node(op, ["x", "w"], ["y"], **attrs)
        inits = {"w": w}
        x_type, x = TensorProto.FLOAT, rng.standard_normal(x_shape).astype(np.float32)
        y_type = TensorProto.FLOAT
    else:
        inits = {
            "w": np.clip(np.round(w * 32), -127, 127).astype(np.int8),
            "xs": _scalar(0.02, np.float32),
            "xz": _scalar(128, np.uint8),
            "ws": _scalar(1 / 32, np.float32),
            "wz": _scalar(0, np.int8),
            "ys": _scalar(0.05, np.float32),
            "yz": _scalar(128, np.uint8),
        }
        if spec.op == "conv2d":
            node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], **attrs)
        else:
            node = helper.make_node("QLinearMatMul", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
        x_type, x = TensorProto.UINT8, rng.integers(0, 256, x_shape, dtype=np.uint8)
        y_type = TensorProto.UINT8
    graph = helper.make_graph(
        [node],
        "layer",
        [helper.make_tensor_value_info("x", x_type, x_shape)],
        [helper.make_tensor_value_info("y", y_type, y_shape)],
        initializer=_initializers(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString(), {"x": x}


def float_layer_model(spec: LayerSpec, batch: int, rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """``spec`` at int8 as onnxruntime runs a layer whose output is not requantized: its
    quantized input (the layer before has quantized it) dequantized, its int8 weights
    dequantized at every run, then the float Conv/Gemm (no integer kernel can take it:
    nothing quantizes its output)."""
    float_model, feed = layer_model(spec, batch, False, rng)
    graph = onnx.load_from_string(float_model).graph
    compute = graph.node[0]
    w = numpy_helper.to_array(next(t for t in graph.initializer if t.name == "w"))
    inits = {
        "wq": np.clip(np.round(w * 32), -127, 127).astype(np.int8), "ws": _scalar(1 / 32, np.float32), "wz": _scalar(0, np.int8),
        "xs": _scalar(0.02, np.float32), "xz": _scalar(128, np.uint8),
    }
    if compute.op_type == "MatMul":
        # a Linear exports as Gemm (weight [out, in], bias): onnxruntime fuses a lone
        # dequantize -> MatMul into an integer kernel, but runs Gemm on weights it dequantizes
        # at every run, as the exported model does
        inits["wq"] = np.ascontiguousarray(inits["wq"].T)
        inits["b"] = np.zeros(spec.out_channels, dtype=np.float32)
        compute = helper.make_node("Gemm", ["xd", "w", "b"], ["y"], transB=1)
    else:
        compute = helper.make_node(compute.op_type, ["xd", "w"], ["y"], **{a.name: helper.get_attribute_value(a) for a in compute.attribute})
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"]),
        compute,
    ]
    x_shape = list(feed["x"].shape)
    feed = {"x": rng.integers(0, 256, x_shape, dtype=np.uint8)}
    inputs = [helper.make_tensor_value_info("x", TensorProto.UINT8, x_shape)]
    out = helper.make_graph(nodes, "layer", inputs, list(graph.output), initializer=_initializers(inits))
    model = helper.make_model(out, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model.SerializeToString(), feed


def time_float_layers(
    specs: Sequence[LayerSpec], batch: int = 1, warmup: int = 5, repeats: int = 20, seed: int = 0
) -> dict[str, float]:
    """shape_key -> median ms of ``float_layer_model`` for each distinct shape of ``specs``:
    what a layer the runtime leaves in float costs at int8 widths (float kernel plus its
    quantize/dequantize work), for the table's ``float-layers`` header."""
    rng = np.random.default_rng(seed)
    unique = {s.shape_key: s for s in specs}
    return {key: time_model(*float_layer_model(spec, batch, rng), warmup, repeats) for key, spec in unique.items()}


def time_samples(model: bytes, feed: dict[str, np.ndarray], warmup: int, repeats: int, threads: int = 1) -> list[float]:
    """Wall times (ms) of ``repeats`` runs after ``warmup`` runs, with all graph
    optimisations on (QDQ pairs fuse into integer kernels, as a deployment would run them)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        session.run(None, feed)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def time_model(model: bytes, feed: dict[str, np.ndarray], warmup: int, repeats: int) -> float:
    """Median wall time (ms) of one run on one thread, after ``warmup`` runs."""
    return statistics.median(time_samples(model, feed, warmup, repeats))


class LayerTiming(NamedTuple):
    """One layer shape's kernels: medians and interquartile ranges of the repeats (ms)."""

    int8_ms: float
    fp32_ms: float
    int8_spread_ms: float
    fp32_spread_ms: float


def spread(samples: Sequence[float]) -> float:
    """Interquartile range (ms); 0 for fewer than two samples."""
    if len(samples) < 2:
        return 0.0
    low, _, high = statistics.quantiles(samples, n=4, method="inclusive")
    return high - low


def fp16_native(provider: str = "CPUExecutionProvider") -> bool:
    """Whether ``provider`` runs an fp16 Conv as such, rather than through Casts to fp32
    (which would time fp32 plus conversions and call it half precision)."""
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])
    w = numpy_helper.from_array(np.ones((4, 4, 3, 3), np.float16), "w")
    graph = helper.make_graph(
        [node], "fp16", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 4, 6, 6])], initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(model.SerializeToString(), options, providers=[provider])
        ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    return "Cast" not in ops


def measure_specs(
    specs: Sequence[LayerSpec],
    batch: int = 1,
    warmup: int = 5,
    repeats: int = 20,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, LayerTiming]:
    """shape_key -> its int8 and fp32 timings, for each distinct shape of ``specs``."""
    rng = np.random.default_rng(seed)
    unique = list({s.shape_key: s for s in specs}.values())
    results: dict[str, tuple[float, float]] = {}
    for i, spec in enumerate(unique):
        if progress:
            progress(i, len(unique), spec.shape_key)
        samples = []
        for quantized in (True, False):
            model, feed = layer_model(spec, batch, quantized, rng)
            samples.append(time_samples(model, feed, warmup, repeats))
        int8, fp32 = samples
        results[spec.shape_key] = LayerTiming(statistics.median(int8), statistics.median(fp32), spread(int8), spread(fp32))
    if progress:
        progress(len(unique), len(unique), "")
    return results


def measured_table_text(
    results: dict[str, Sequence[float]],
    target: str,
    model: str,
    batch: int,
    warmup: int,
    repeats: int,
    more: dict[str, str] | None = None,
) -> str:
    """The table file for ``results`` (``LayerTiming``s, or (int8 ms, fp32 ms) pairs without a
    spread): int8 kernel at (8, 8), fp32 kernel if either side is float."""
    rows, spreads = [], []
    for shape, timing in results.items():
        int8_ms, fp32_ms = timing[0], timing[1]
        int8_spread, fp32_spread = (timing[2], timing[3]) if len(timing) >= 4 else (None, None)
        for w in MEASURED_BITS:
            for a in MEASURED_BITS:
                rows.append((shape, w, a, int8_ms if (w, a) == (8, 8) else fp32_ms, None, "table"))
                spreads.append(int8_spread if (w, a) == (8, 8) else fp32_spread)
    extra = {
        "model": model,
        "description": f"onnxruntime {ort.__version__} CPU kernels (QLinearConv/QLinearMatMul int8, Conv/MatMul fp32), "
        f"1 thread, median of {repeats} after {warmup} warm-up, on {platform.machine()} {platform.processor() or ''}".strip(),
        "kernels": "8=QLinearConv/QLinearMatMul u8s8; 32=Conv/MatMul fp32; no kernel below 8 bits",
        "formats": "int8,fp32" + ("" if fp16_native() else " (fp16: the CPU provider runs it through Casts to fp32, not offered)"),
        "latency_spread": f"interquartile range of the {repeats} repeats (ms)",
        **(more or {}),
    }
    return format_table(target, batch, MEASURED_BITS, rows, GENERATOR, extra, energy_unit="n/a", spreads=spreads)


def write_measured_table(path: str | Path, text: str) -> Path:
    """Write a table file, creating its folder."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
