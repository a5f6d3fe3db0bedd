"""What a measured table needs to know of a model besides its layer shapes.

The service traces the model where its file is (``layer_shapes``, and ``runtime_layers``:
which layers onnxruntime runs as integers in its int8 export) at submit; a worker on
another machine times those shapes where the table is wanted
(``hwsearch.search.measure_table``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

import torch

from hwsearch.core.graph import LayerSpec, trace
from hwsearch.core.spec import SpecError
from hwsearch.search.problem import model_and_example, trace_model


def noise_batch(x: torch.Tensor, n: int = 8) -> torch.Tensor:
    """``n`` seeded noise inputs shaped like ``x``: calibration enough for an export whose
    graph or speed, not its accuracy, is wanted."""
    return torch.randn(n, *x.shape[1:], generator=torch.Generator().manual_seed(0))


def export_qdq(doc: dict[str, Any], net: torch.nn.Module, model: str, calib: torch.Tensor) -> bytes:
    """``doc``'s policy of ``net`` (built-in name or ``.onnx`` path ``model``) as the ONNX QDQ
    model a deployment would run, calibrated on ``calib``; an ``ExportError`` if it cannot be."""
    from hwsearch.export.calibrated import calibrate
    from hwsearch.zoo import is_onnx

    cal = calibrate(doc, net, calib)
    if is_onnx(model):
        from hwsearch.export.onnx_user_qdq import export_user_onnx

        return export_user_onnx(cal, model)
    from hwsearch.export.onnx_qdq import export_onnx

    return export_onnx(cal, calib[:1])


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
    from hwsearch.export.base import ExportError
    from hwsearch.verify import requantizing_layers, weight_tensors

    net, x = model_and_example(model, data, input_shape)
    specs = trace(net, x)
    names = list(dict.fromkeys(s.name for s in specs))
    doc = {"model": model, "layers": [{"name": n, "weight_bits": 8, "activation_bits": 8} for n in names]}
    try:
        content = export_qdq(doc, net, model, noise_batch(x))
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
