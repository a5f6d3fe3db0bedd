"""The quantizers of a policy: the exact scales the search's simulation used, per layer.

Every model-based export (ONNX, encodings, weights) starts here so they all agree with
each other and with the simulated accuracy in the policy file: the same float model,
the same calibration split and the same construction as the search's scorer (``hwsearch.search.scoring``)
give the same quantizers; a test checks them against the search's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hwsearch.export.base import ExportError
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.quant import ActivationQuant, QuantizedModel, WeightQuant
from hwsearch.quant.folding import fold_batchnorm


@dataclass(frozen=True)
class LayerQuant:
    """One layer's quantization under the policy (``None`` parts stay in float)."""

    name: str
    op: str  # "conv2d" or "linear"
    weight_bits: int
    activation_bits: int
    weight: WeightQuant | None
    weight_int: torch.Tensor | None  # int8 tensor of the integer weights (any bits 2..8)
    activation: ActivationQuant | None


@dataclass
class Calibrated:
    """A float model, its simulation under the policy, and each layer's quantizers."""

    model: nn.Module  # BatchNorm folded, as the simulation runs it
    qmodel: QuantizedModel
    policy: Policy
    layers: dict[str, LayerQuant]


def policy_of(doc: dict) -> Policy:
    """The ``Policy`` in a policy document's ``layers``."""
    try:
        return Policy({layer["name"]: (layer["weight_bits"], layer["activation_bits"]) for layer in doc["layers"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"layers: {exc}") from None


def _spec(doc: dict) -> dict:
    spec = doc.get("spec")
    return spec if isinstance(spec, dict) else {}


def build_float_model(doc: dict, finetuned_weights: bytes | None = None) -> nn.Module:
    """The float model named by the document (zoo name, or module:factory + spec.weights),
    with the policy's fine-tuned weights loaded over it when given (checked against the
    SHA-256 in ``finetune.weights``)."""
    from hwsearch.finetuned_weights import WeightsError, check, load_into
    from hwsearch.zoo import ModelError, build_model

    try:
        model = build_model(doc["model"], weights=_spec(doc).get("weights"))
        return model if finetuned_weights is None else load_into(model, check(finetuned_weights, doc))
    except (ModelError, WeightsError) as exc:
        raise ExportError(f"model: {exc}" if isinstance(exc, ModelError) else str(exc)) from None


def records_finetuned_weights(doc: dict) -> bool:
    """Whether the policy was fine-tuned and its weights kept (exports must use them)."""
    from hwsearch.finetuned_weights import weights_block

    return bool(weights_block(doc))


def calibration_inputs(doc: dict) -> torch.Tensor:
    """The calibration split of the data set the search used (spec.data, else the model's)."""
    from hwsearch.data import DataError, load_dataset
    from hwsearch.zoo import ModelError, model_dataset

    data = _spec(doc).get("data")
    try:
        dataset = load_dataset(data) if data else model_dataset(doc["model"])
    except (DataError, ModelError) as exc:
        raise ExportError(f"spec.data: {exc}") from None
    if dataset is None:
        raise ExportError(f"spec.data: model {doc['model']!r} has no data set to calibrate on; give spec.data")
    return dataset.calib.x


def integer_weight(weight: torch.Tensor, wq: WeightQuant) -> torch.Tensor:
    """The integers behind ``quantize_weight``: ``clamp(round(w / scale))`` as int8."""
    shape = (-1,) + (1,) * (weight.dim() - 1)
    qmin, qmax = wq.qrange
    with torch.no_grad():
        return torch.clamp(torch.round(weight.detach() / wq.scale.view(shape)), qmin, qmax).to(torch.int8)


def calibrate(doc: dict, model: nn.Module | None = None, calib_x: torch.Tensor | None = None) -> Calibrated:
    """Quantizers of every layer of ``doc``'s policy, computed as the search computed them.

    ``model``/``calib_x`` default to the document's model and its data set's calibration
    split; the quantized model is built exactly as the search's scorer builds it.
    """
    policy = policy_of(doc)
    # the exports start from the folded float model the simulation quantizes
    model = fold_batchnorm(build_float_model(doc) if model is None else model)
    calib_x = calibration_inputs(doc) if calib_x is None else calib_x
    # Same construction as the search's scorer: a fixed calibration sample
    # (QuantizedModel's default seed), so a policy scores the same whatever spec.seed is.
    qmodel = QuantizedModel(model, calib_x)
    try:
        qmodel.set_policy(policy)
    except ValueError as exc:
        raise ExportError(f"layers: {exc}") from None
    # "depthwise_conv2d" is a conv2d to the model (the policy file names it for readers).
    ops = {layer["name"]: layer.get("op", "").replace("depthwise_", "") for layer in doc["layers"]}
    layers: dict[str, LayerQuant] = {}
    for name in qmodel.layer_names:
        bits = policy[name]
        module = qmodel.layers[name].layer
        op = "conv2d" if isinstance(module, nn.Conv2d) else "linear"
        if ops.get(name) and ops[name] != op:
            raise ExportError(f"layers: {name!r} is a {op} layer in the model, not {ops[name]}")
        wq = None if bits.weight_bits == FLOAT_BITS else qmodel.weight_quant(name, bits.weight_bits)[0]
        aq = None if bits.activation_bits == FLOAT_BITS else qmodel.activation_quant(name, bits.activation_bits)
        layers[name] = LayerQuant(
            name=name,
            op=op,
            weight_bits=bits.weight_bits,
            activation_bits=bits.activation_bits,
            weight=wq,
            weight_int=None if wq is None else integer_weight(module.weight, wq),
            activation=aq,
        )
    return Calibrated(model=model, qmodel=qmodel.eval(), policy=policy, layers=layers)
