"""A model's layers timed on this machine as a table, in two steps that may run apart.

The service traces the model where its file is (``layer_shapes``, at submit) and a worker
on another machine times those shapes where the table is wanted (``measure_layer_table``):
that worker needs neither the model's file nor its weights, only the shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from hwsearch.core.graph import LayerSpec, trace
from hwsearch.core.spec import SpecError
from hwsearch.search.problem import model_and_example, trace_model


def layer_shapes(model: str) -> list[dict[str, Any]]:
    """The layer executions of ``model`` (built-in name or ``.onnx`` path) as JSON-able dicts;
    a ``SpecError`` if it cannot be traced."""
    return [spec.to_dict() for spec in trace_model(model)]


def runtime_float_layers(model: str, data: str | None = None, input_shape: Sequence[int] | None = None) -> list[list[str]]:
    """[layer, shape] of each layer that onnxruntime runs in float even in ``model``'s int8 QDQ
    export, read off that export's graph (``hwsearch.verify.integer_layers``): its output feeds
    a residual add, a pool or the model's output instead of the next layer's quantizer, so no
    integer kernel takes it. A table that names them (header ``float-layers``) prices them at
    integer widths as they run: their in-place time, else fp32 (``latency_tables.lookup``). The graph, not the weights, decides: the
    model is built untrained, calibrated on seeded noise. Every failure is a ``SpecError``."""
    import torch

    from hwsearch.export.calibrated import calibrate
    from hwsearch.export.base import ExportError
    from hwsearch.verify import integer_layers, weight_tensors
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
    integer = integer_layers(content, weight_tensors(doc, names))
    return [[s.name, s.shape_key] for s in {(s.name, s.shape_key): s for s in specs}.values() if s.name not in integer]


def float_layers_header(pairs: list[list[str]], in_place_ms: dict[str, float] | None = None) -> dict[str, str]:
    """The table header that carries ``runtime_float_layers``' answer, each layer with what its
    shape costs run in place at int8 (``in_place_ms``, from ``time_float_layers``) where timed."""
    timed = in_place_ms or {}
    entries = [[layer, shape, round(timed[shape], 6)] if shape in timed else [layer, shape] for layer, shape in pairs]
    return {"float-layers": json.dumps(entries, separators=(",", ":"))}


def time_float_layer_header(
    specs: Sequence[LayerSpec], pairs: list[list[str]], batch: int = 1, warmup: int = 5, repeats: int = 20
) -> dict[str, str]:
    """``float_layers_header`` with each named layer's shape timed here as the runtime runs it."""
    from latency_tables.measured import time_float_layers

    shapes = {shape for _, shape in pairs}
    timed = time_float_layers([s for s in specs if s.shape_key in shapes], batch=batch, warmup=warmup, repeats=repeats)
    return float_layers_header(pairs, timed)


def measure_layer_table(
    layers: list[dict[str, Any]],
    name: str,
    model: str,
    warmup: int,
    repeats: int,
    progress: Callable[[int, int, str], None] | None = None,
    more: dict[str, str] | None = None,
    float_layers: list[list[str]] | None = None,
) -> tuple[str, int]:
    """Time ``layers``' shapes in onnxruntime here (int8 and fp32 kernels, and the
    ``float_layers`` from ``runtime_float_layers`` as they run in place): the table's text,
    checked as an upload is, and how many distinct shapes it has."""
    from latency_tables import parse_table
    from latency_tables.measured import measure_specs, measured_table_text

    specs = [LayerSpec.from_dict(layer) for layer in layers]
    results = measure_specs(specs, warmup=warmup, repeats=repeats, progress=progress)
    if float_layers is not None:
        more = {**(more or {}), **time_float_layer_header(specs, float_layers, warmup=warmup, repeats=repeats)}
    text = measured_table_text(results, name, model, 1, warmup, repeats, more)
    parse_table(text)
    return text, len(results)
