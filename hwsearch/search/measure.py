"""A model's layers timed on this machine as a table, in two steps that may run apart.

The service traces the model where its file is (``layer_shapes``, at submit) and a worker
on another machine times those shapes where the table is wanted (``measure_layer_table``):
that worker needs neither the model's file nor its weights, only the shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hwsearch.core.graph import LayerSpec
from hwsearch.search.problem import trace_model


def layer_shapes(model: str) -> list[dict[str, Any]]:
    """The layer executions of ``model`` (built-in name or ``.onnx`` path) as JSON-able dicts;
    a ``SpecError`` if it cannot be traced."""
    return [spec.to_dict() for spec in trace_model(model)]


def measure_layer_table(
    layers: list[dict[str, Any]],
    name: str,
    model: str,
    warmup: int,
    repeats: int,
    progress: Callable[[int, int, str], None] | None = None,
    more: dict[str, str] | None = None,
) -> tuple[str, int]:
    """Time ``layers``' shapes in onnxruntime here (int8 and fp32 kernels): the table's text,
    checked as an upload is, and how many distinct shapes it has."""
    from latency_tables import parse_table
    from latency_tables.measured import measure_specs, measured_table_text

    results = measure_specs([LayerSpec.from_dict(layer) for layer in layers], warmup=warmup, repeats=repeats, progress=progress)
    text = measured_table_text(results, name, model, 1, warmup, repeats, more)
    parse_table(text)
    return text, len(results)
