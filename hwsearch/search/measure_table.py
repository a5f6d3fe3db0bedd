"""A measured table written where the model will run (a worker on a named queue).

The worker times the layer shapes the service traced at submit (it needs neither torch's
trace nor the model's file for that), then, given the model, times it whole to scale the
table and price the switches back into integer kernels (``hwsearch.search.whole_model``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hwsearch.core.graph import LayerSpec
from hwsearch.core.spec import SpecError
from hwsearch.search.measure import RuntimeLayers, time_runtime_layers_header
from hwsearch.search.whole_model import time_whole_model


def measure_layer_table(
    layers: list[dict[str, Any]],
    name: str,
    model: str,
    warmup: int,
    repeats: int,
    progress: Callable[[int, int, str], None] | None = None,
    more: dict[str, str] | None = None,
    runtime: RuntimeLayers | None = None,
    whole_model: str | None = None,
    whole_progress: Callable[[int, int, str], None] | None = None,
) -> tuple[str, int]:
    """Time ``layers``' shapes in onnxruntime here (int8 and fp32 kernels, and the layers of
    ``runtime`` (from ``runtime_layers``) as they run in float in place) and, given
    ``whole_model`` (the model's built-in name or file, with ``runtime``), the whole model
    (``time_whole_model``): the table's text, checked as an upload is, and how many distinct
    shapes it has. A model that cannot be exported leaves the table unscaled, with a
    ``whole-model`` header saying why."""
    from latency_tables import parse_table
    from latency_tables.measured import measure_specs, measured_table_text

    specs = [LayerSpec.from_dict(layer) for layer in layers]
    results = measure_specs(specs, warmup=warmup, repeats=repeats, progress=progress)
    more = dict(more or {})
    if runtime is not None:
        more |= time_runtime_layers_header(specs, runtime, warmup=warmup, repeats=repeats)
        if whole_model is not None:

            def table_with(extra: dict[str, str]) -> str:
                return measured_table_text(results, name, model, 1, warmup, repeats, {**more, **extra})

            try:
                more |= time_whole_model(whole_model, specs, runtime, table_with, warmup=warmup, repeats=repeats, progress=whole_progress)
            except SpecError as exc:  # the lone layers' table still stands; say why it is not scaled
                more["whole-model"] = f"not timed: {exc}"
    text = measured_table_text(results, name, model, 1, warmup, repeats, more)
    parse_table(text)
    return text, len(results)
