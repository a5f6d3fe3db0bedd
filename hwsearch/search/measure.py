"""A model's layers timed on this machine as a table, in two steps that may run apart.

The service traces the model where its file is (``layer_shapes``, at submit) and a worker
on another machine times those shapes where the table is wanted (``measure_layer_table``):
that worker needs neither the model's file nor its weights, only the shapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any

from hwsearch.core.graph import LayerSpec, trace
from hwsearch.core.spec import SpecError
from hwsearch.search.problem import model_and_example, trace_model


def layer_shapes(model: str) -> list[dict[str, Any]]:
    """The layer executions of ``model`` (built-in name or ``.onnx`` path) as JSON-able dicts;
    a ``SpecError`` if it cannot be traced."""
    return [spec.to_dict() for spec in trace_model(model)]


@dataclass(frozen=True)
class RuntimeLayers:
    """How onnxruntime runs ``model``'s layers in its int8 QDQ export (``runtime_layers``)."""

    float_layers: list[list[str]]  # [layer, shape]: run in float whatever their widths
    requantized_by: list[list[Any]]  # [layer, shape, [layers]]: integer while those quantize their input


def runtime_layers(model: str, data: str | None = None, input_shape: Sequence[int] | None = None) -> RuntimeLayers:
    """Which layers of ``model`` onnxruntime runs as integer kernels in its int8 QDQ export, read
    off that export's graph (``hwsearch.verify``). A layer whose output feeds a residual add, a
    pool or the model's output instead of the next layer's quantizer runs in float at any width
    (``float_layers``); the others run their integer kernel only while the layers that requantize
    their output quantize their input (``requantized_by``). A table carrying both (headers
    ``float-layers`` and ``requantized-by``) prices each layer as it will run
    (``latency_tables.lookup``). The graph, not the weights, decides: the model is built
    untrained, calibrated on seeded noise. Every failure is a ``SpecError``."""
    import torch

    from hwsearch.export.calibrated import calibrate
    from hwsearch.export.base import ExportError
    from hwsearch.verify import requantizing_layers, weight_tensors
    from hwsearch.zoo import is_onnx

    net, x = model_and_example(model, data, input_shape)
    specs = trace(net, x)
    names = list(dict.fromkeys(s.name for s in specs))
    doc = {"model": model, "layers": [{"name": n, "weight_bits": 8, "activation_bits": 8} for n in names]}
    calib = torch.randn(8, *x.shape[1:], generator=torch.Generator().manual_seed(0))
    try:
        cal = calibrate(doc, net, calib)
        if is_onnx(model):
            from hwsearch.export.onnx_user_qdq import export_user_onnx

            content = export_user_onnx(cal, model)
        else:
            from hwsearch.export.onnx_qdq import export_onnx

            content = export_onnx(cal, calib[:1])
    except ExportError as exc:
        raise SpecError("model", f"cannot export {model!r} at int8 to see which layers run as integers: {exc}") from None
    requantized = requantizing_layers(content, weight_tensors(doc, names))
    layers = list({(s.name, s.shape_key): s for s in specs}.values())
    return RuntimeLayers(
        float_layers=[[s.name, s.shape_key] for s in layers if s.name not in requantized],
        requantized_by=[[s.name, s.shape_key, requantized[s.name]] for s in layers if s.name in requantized],
    )


def runtime_layers_header(runtime: RuntimeLayers, in_place_ms: dict[str, float] | None = None) -> dict[str, str]:
    """The table headers that carry ``runtime_layers``' answer, each layer with what its shape
    costs run in place at int8 (float kernel with quantize/dequantize; ``in_place_ms``, from
    ``time_float_layers``) where timed."""
    timed = in_place_ms or {}

    def entries(rows: list[list[Any]]) -> str:
        out = [[*row, round(timed[row[1]], 6)] if row[1] in timed else list(row) for row in rows]
        return json.dumps(out, separators=(",", ":"))

    header = {"float-layers": entries(runtime.float_layers)}
    if runtime.requantized_by:
        header["requantized-by"] = entries(runtime.requantized_by)
    return header


def time_runtime_layers(
    specs: Sequence[LayerSpec], runtime: RuntimeLayers, batch: int = 1, warmup: int = 5, repeats: int = 20
) -> dict[str, float]:
    """shape -> ms of every layer ``runtime`` names, timed here as the runtime runs it in float:
    what a float layer always costs, and an integer one once it falls back."""
    from latency_tables.measured import time_float_layers

    shapes = {row[1] for row in [*runtime.float_layers, *runtime.requantized_by]}
    return time_float_layers([s for s in specs if s.shape_key in shapes], batch=batch, warmup=warmup, repeats=repeats)


def time_runtime_layers_header(
    specs: Sequence[LayerSpec], runtime: RuntimeLayers, batch: int = 1, warmup: int = 5, repeats: int = 20
) -> dict[str, str]:
    """``runtime_layers_header`` with every named layer timed here (``time_runtime_layers``)."""
    return runtime_layers_header(runtime, time_runtime_layers(specs, runtime, batch, warmup, repeats))


def measure_layer_table(
    layers: list[dict[str, Any]],
    name: str,
    model: str,
    warmup: int,
    repeats: int,
    progress: Callable[[int, int, str], None] | None = None,
    more: dict[str, str] | None = None,
    runtime: RuntimeLayers | None = None,
) -> tuple[str, int]:
    """Time ``layers``' shapes in onnxruntime here (int8 and fp32 kernels, and the layers of
    ``runtime`` (from ``runtime_layers``) as they run in float in place): the table's text,
    checked as an upload is, and how many distinct shapes it has."""
    from latency_tables import parse_table
    from latency_tables.measured import measure_specs, measured_table_text

    specs = [LayerSpec.from_dict(layer) for layer in layers]
    results = measure_specs(specs, warmup=warmup, repeats=repeats, progress=progress)
    if runtime is not None:
        more = {**(more or {}), **time_runtime_layers_header(specs, runtime, warmup=warmup, repeats=repeats)}
    text = measured_table_text(results, name, model, 1, warmup, repeats, more)
    parse_table(text)
    return text, len(results)
