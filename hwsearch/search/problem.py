"""Build a search's problem from its spec: trace, cost, load, score.

``build_costing`` is the cheap half (trace + the target's cost grid): all ``validate_spec``
needs, so a service can refuse a job before queuing it. ``build_problem`` adds the
expensive half (trained model, data, the calibrated scorer) on the same costing, so one
job builds each once. Every failure is a ``SpecError`` naming the field at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from agents import AGENT_NAMES
from hwsearch.core.cost_model import CostModel, TableError, UnknownTargetError
from hwsearch.core.costing import Costing
from hwsearch.core.graph import LayerSpec, trace
from hwsearch.core.problem import SearchProblem
from hwsearch.core.device import resolve_device
from hwsearch.core.spec import SearchSpec, SpecError, spec_from_dict
from hwsearch.data import DataError, load_dataset
from hwsearch.search.scoring import AccuracyScorer
from hwsearch.zoo.onnx_import import OnnxImportError, load_onnx_model
from hwsearch.zoo import MODELS, ModelError, build_model, example_input, get_entry, is_onnx, model_dataset
from latency_tables import get_target


def trace_model(model: str, data: str | None = None, input_shape: Sequence[int] | None = None) -> list[LayerSpec]:
    """The layer executions of any model a search accepts (built-in, ``.onnx`` path or
    ``module:factory``), traced on one sample: of ``input_shape`` (C, H, W) if given, else the
    model's own (built-in, ONNX), else ``data``'s. Every failure is a ``SpecError``."""
    net, x = model_and_example(model, data, input_shape)
    try:
        return trace(net, x)
    except RuntimeError as exc:  # e.g. 3-channel images for a 1-channel model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError("data", f"model {model!r} cannot run on inputs of shape {tuple(x.shape[1:])}: {first}") from None


def model_and_example(
    model: str, data: str | None = None, input_shape: Sequence[int] | None = None
) -> tuple[torch.nn.Module, torch.Tensor]:
    """The float module of ``model`` (untrained where that is cheaper: for its structure) and one
    input as ``trace_model`` traces it on. Every failure is a ``SpecError``."""
    try:
        if is_onnx(model):
            imported = load_onnx_model(model)
            net, shape = imported.module, input_shape or imported.input_shape[1:]
        else:
            net = build_model(model, trained=False)
            shape = input_shape or (MODELS[model].input_shape if model in MODELS else None)
        if shape is not None:
            x = torch.zeros(1, *shape)
        elif data is not None:
            try:
                x = load_dataset(data).example_input()
            except DataError as exc:
                raise SpecError("data", str(exc)) from None
        else:
            raise SpecError("data", f"model {model!r} has no input shape of its own: give data or an input shape")
    except (ModelError, OnnxImportError, OSError) as exc:
        raise SpecError("model", str(exc)) from None
    return net, x


def _trace_spec(spec: SearchSpec) -> list[LayerSpec]:
    if spec.model in MODELS:
        if get_entry(spec.model).dataset is None and spec.data is None:
            raise SpecError("data", f"model {spec.model!r} is an architecture without a data set; give 'data' (and 'weights')")
        return trace_model(spec.model)
    if ":" in spec.model or is_onnx(spec.model):
        if spec.data is None:
            raise SpecError("data", f"user model {spec.model!r} needs 'data' to measure accuracy on")
        if ":" in spec.model and not is_onnx(spec.model) and spec.weights is None and not spec.random_init:
            raise SpecError(
                "weights", f"model {spec.model!r} has no weights: give its trained weights (.safetensors), or random_init "
                "(--random-init) to search the untrained model on purpose"
            )
        # traced on the data's images: a model that cannot take them is refused here
        try:
            shape = tuple(load_dataset(spec.data).example_input().shape[1:])
        except DataError as exc:
            raise SpecError("data", str(exc)) from None
        return trace_model(spec.model, input_shape=shape)
    try:
        get_entry(spec.model)  # raises with the list of names
    except ModelError as exc:
        raise SpecError("model", str(exc)) from None
    raise AssertionError


def build_costing(spec: SearchSpec, target: CostModel | None = None) -> Costing:
    """Trace the architecture and cost it on the target (``target`` overrides ``spec.target``,
    e.g. a table the caller parsed from memory)."""
    if spec.agent not in AGENT_NAMES:
        raise SpecError("agent", f"unknown agent {spec.agent!r}; choose from {', '.join(AGENT_NAMES)}")
    specs = _trace_spec(spec)
    if not specs:
        raise SpecError("model", f"model {spec.model!r} has no Conv2d/Linear layer to quantize")
    if target is None:
        try:
            target = get_target(spec.target)
        except (UnknownTargetError, TableError, ValueError) as exc:
            raise SpecError("target", str(exc)) from None
    try:
        return Costing(spec, specs, target)
    except (TableError, KeyError) as exc:
        raise SpecError("target", str(exc).strip("'\"")) from None


def validate_spec(spec: SearchSpec | dict[str, Any], target: CostModel | None = None) -> Costing:
    """Cheap checks before queuing; raises ``SpecError(field, message)``.

    Unknown model, target or agent; a model without data; bits the target cannot run;
    an energy objective on a target without energy figures; a budget that no policy
    (not even the cheapest bits on every layer) can meet. Traces and costs the
    architecture (milliseconds) but never trains, loads data or evaluates accuracy.
    Returns the costing, for a caller that goes on to build the problem.
    """
    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    resolve_device(spec.device)  # a GPU this machine lacks: refused now, not in the worker
    check_agent_options(spec)
    return build_costing(spec, target)


def check_agent_options(spec: SearchSpec) -> None:
    """Build the spec's agent with its options once (cheap: no network is made before the
    search), so an unknown option or a refused value is a ``SpecError`` naming ``agent_options``."""
    from agents import AGENT_NAMES, get_agent

    if spec.agent not in AGENT_NAMES:  # the costing's check names the agent itself
        return
    try:
        get_agent(spec.agent, **spec.agent_options)
    except ValueError as exc:
        raise SpecError("agent_options", str(exc).removeprefix(f"agent {spec.agent!r}: ")) from None


def build_problem(spec: SearchSpec | dict[str, Any], costing: Costing | None = None) -> SearchProblem:
    """The whole problem: ``costing`` (built if not given), the trained model, its data and
    the scorer."""
    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    costing = costing or build_costing(spec)
    model = build_model(spec.model, weights=spec.weights).to(resolve_device(spec.device))
    dataset = load_dataset(spec.data) if spec.data else model_dataset(spec.model)
    return SearchProblem(costing, AccuracyScorer(spec, model, dataset, costing.bits), model=model, dataset=dataset)
