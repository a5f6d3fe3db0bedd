"""What a lone layer's timing cannot see, measured on the whole model.

A measured table times each layer shape alone, and two things differ once the layers run
together:

- the whole model pays fixed per-call costs once, not once per layer, and its kernels run
  warmer: on small inputs uniform int8 and fp32 models run well under their lone layers'
  sum. ``whole_model_scale`` times both and scales the table so they match (header
  ``whole-model-scale``);
- a layer run in float before one that quantizes its input pays its way back into integer
  kernels (a QuantizeLinear, layout changes, ops between the two left outside either
  kernel's layout). ``probe_entries`` exports uniform int8 with each such layer in float,
  times it against uniform int8 (interleaved rounds against drift) and keeps what the change
  exceeds the table's predicted change by (header ``float-to-integer``; every search prices
  it as a pair term, ``CostModel.entries``).

Both need the model's real weights (or, for an architecture without them, BatchNorm
statistics like a trained one's): an untrained net folds to all-zero biases, which
onnxruntime shares between convs, and that stops its integer fusion.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hwsearch.core.cost_model import CostModel
from hwsearch.core.graph import LayerSpec, layer_names
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.core.spec import SpecError
from hwsearch.search.measure import RuntimeLayers, export_qdq, noise_batch
from hwsearch.search.problem import model_and_example


def trained_like_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    """Give an untrained model's BatchNorms statistics like a trained one's (see the module's
    docstring for why its export would otherwise run unlike any trained model)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            with torch.no_grad():
                for tensor, (low, high) in ((module.running_mean, (-0.1, 0.1)), (module.running_var, (0.5, 2.0)),
                                            (module.weight, (0.5, 1.5)), (module.bias, (-0.1, 0.1))):
                    tensor.copy_(torch.empty_like(tensor).uniform_(low, high, generator=generator))


def deployable_model(model: str, data: str | None = None, input_shape: Sequence[int] | None = None) -> tuple[torch.nn.Module, torch.Tensor]:
    """``model`` with the weights it deploys with, and one input: an ONNX file's own, a built-in's
    trained ones, an architecture's BatchNorms made like a trained net's. A ``SpecError`` if it
    cannot be built."""
    from hwsearch.zoo import MODELS, ModelError, build_model, is_onnx

    net, x = model_and_example(model, data, input_shape)
    if is_onnx(model):
        return net, x
    if model in MODELS and MODELS[model].dataset is not None:
        try:
            return build_model(model), x
        except ModelError as exc:
            raise SpecError("model", str(exc)) from None
    trained_like_batchnorm(net)
    return net, x


class WholeModelTimer:
    """Exports policies of one model and times them whole here: one thread, batch 1, median
    of ``repeats`` after ``warmup`` runs, like the table's lone layers."""

    def __init__(self, model: str, specs: Sequence[LayerSpec], data: str | None = None,
                 input_shape: Sequence[int] | None = None, warmup: int = 5, repeats: int = 20) -> None:
        self.model, self.specs = model, list(specs)
        self.names = layer_names(self.specs)
        self.net, x = deployable_model(model, data, input_shape)
        self.calib = noise_batch(x, 16)
        self.warmup, self.repeats = warmup, repeats
        self._feed: dict[str, np.ndarray] = {}
        # the uniform exports, kept: int8 serves both the scale and the probe (the probe's
        # one-layer-float exports are not kept: one per layer of a large model would fill memory)
        self._uniform: dict[Policy, bytes] = {}

    def uniform(self, bits: int) -> Policy:
        return Policy.uniform(self.names, bits)

    def export(self, policy: Policy) -> bytes:
        """``policy`` as the deployed ONNX model (a uniform one exported once); a ``SpecError``
        if it cannot be."""
        from hwsearch.export.base import ExportError

        if policy in self._uniform:
            return self._uniform[policy]
        doc = {"model": self.model, "layers": [{"name": n, "weight_bits": policy[n].weight_bits,
                                                "activation_bits": policy[n].activation_bits} for n in self.names]}
        try:
            content = export_qdq(doc, self.net, self.model, self.calib)
        except ExportError as exc:
            raise SpecError("model", f"cannot export {self.model!r} to time it whole: {exc}") from None
        if policy in (self.uniform(8), self.uniform(FLOAT_BITS)):
            self._uniform[policy] = content
        return content

    def time(self, content: bytes) -> float:
        """Median ms of the exported model ``content`` on one input."""
        from latency_tables.measured import time_samples

        if not self._feed:
            import onnx

            graph = onnx.load_from_string(content).graph
            initializers = {i.name for i in graph.initializer}
            self._feed[next(i.name for i in graph.input if i.name not in initializers)] = self.calib[:1].numpy()
        return statistics.median(time_samples(content, self._feed, self.warmup, self.repeats))


def whole_model_scale(timer: WholeModelTimer, table: CostModel) -> dict[str, float]:
    """``{"integer": s8, "float": s32}``: uniform int8's and fp32's whole-model time over
    ``table``'s prediction of them (the ``whole-model-scale`` header)."""
    scale = {}
    for kind, bits in (("integer", 8), ("float", FLOAT_BITS)):
        measured = timer.time(timer.export(timer.uniform(bits)))
        scale[kind] = round(measured / table.policy_cost(timer.specs, timer.uniform(bits)).latency_ms, 6)
    return scale


def probe_entries(
    timer: WholeModelTimer,
    runtime: RuntimeLayers,
    table: CostModel,
    rounds: int = 3,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[list[Any]]:
    """``[layer, shape, [consumers], ms]`` for every layer ``runtime`` says has integer consumers:
    what uniform int8 with that layer in float measures beyond ``table``'s prediction of the
    change, at least 0 (``table`` carries ``runtime``'s headers and the scale it will be written
    with)."""
    int8 = timer.uniform(8)
    base = timer.export(int8)
    base_cost = table.policy_cost(timer.specs, int8).latency_ms
    rows: list[list[Any]] = []
    for i, (layer, shape, consumers) in enumerate(runtime.requantized_by):
        if progress is not None:
            progress(i, len(runtime.requantized_by), layer)
        policy = Policy({n: (FLOAT_BITS, FLOAT_BITS) if n == layer else (8, 8) for n in timer.names})
        content = timer.export(policy)
        pairs = [(timer.time(base), timer.time(content)) for _ in range(rounds)]
        measured = statistics.median(b for _, b in pairs) - statistics.median(a for a, _ in pairs)
        predicted = table.policy_cost(timer.specs, policy).latency_ms - base_cost
        # a negative residual (the whole model runs the float layer faster than the table says) is
        # kept at 0: timing noise at ImageNet shape, and a negative cost could make a negative total
        rows.append([layer, shape, list(consumers), round(max(measured - predicted, 0.0), 6)])
    if progress is not None:
        progress(len(runtime.requantized_by), len(runtime.requantized_by), "")
    return rows


def whole_model_header(scale: dict[str, float] | None, entries: list[list[Any]]) -> dict[str, str]:
    """The table headers of ``whole_model_scale`` and ``probe_entries`` (those that have a value)."""
    header = {}
    if scale:
        header["whole-model-scale"] = json.dumps(scale, separators=(",", ":"))
    if entries:
        header["float-to-integer"] = json.dumps(entries, separators=(",", ":"))
    return header


def time_whole_model(
    model: str,
    specs: Sequence[LayerSpec],
    runtime: RuntimeLayers,
    table_with: Callable[[dict[str, str]], str],
    data: str | None = None,
    input_shape: Sequence[int] | None = None,
    warmup: int = 5,
    repeats: int = 20,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, str]:
    """The ``whole-model-scale`` and ``float-to-integer`` headers of ``model`` timed here.
    ``table_with(headers)`` is the lone-layer table's text with those headers added (it carries
    ``runtime``'s). ``progress(done, total, what)`` counts the uniform pair, then each layer
    probed. A ``SpecError`` if the model cannot be built or exported."""
    from latency_tables import TableTarget, parse_table

    total = 1 + len(runtime.requantized_by)
    if progress is not None:
        progress(0, total, "uniform int8 and fp32")
    timer = WholeModelTimer(model, specs, data, input_shape, warmup, repeats)
    scale = whole_model_scale(timer, TableTarget([parse_table(table_with({}))]))
    scaled = TableTarget([parse_table(table_with(whole_model_header(scale, [])))])

    def probed(done: int, _: int, layer: str) -> None:
        if progress is not None:
            progress(1 + done, total, f"{layer} in float" if layer else "done")

    entries = probe_entries(timer, runtime, scaled, progress=probed) if runtime.requantized_by else []
    if progress is not None and not runtime.requantized_by:
        progress(total, total, "done")
    return whole_model_header(scale, entries)
