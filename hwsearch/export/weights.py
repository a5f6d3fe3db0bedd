"""``format=weights``: integer weights and scales (safetensors), and the call that rebuilds
the simulated model from them.

Tensors per quantized layer ``L`` (all ``L``'s bits are in the file's metadata):

* ``L.weight_int`` (int8, the layer's weight shape): integers in [-(2^(b-1)-1), 2^(b-1)-1];
* ``L.weight_scale`` (float32, [out_channels]): so the weight is ``weight_int * scale``;
* ``L.weight_clip_ratio`` (float32, [out_channels]): clip / max-abs, for fine-tuning;
* ``L.input_scale`` (float64, scalar): the input activation's step, zero point 0 (float64
  because the simulation keeps it as a Python float: float32 would move rounding edges);
* ``float.<key>``: every other tensor of the model's state (biases, layers left in float),
  so a fine-tuned policy's file carries its fine-tuned values; the rebuild loads them over
  the given model. The state is the simulated one: BatchNorm after a conv is folded into
  that conv's weight and bias (``hwsearch.quant.folding``), so it has no tensors of its own.

Metadata (strings): ``format`` = ``hwsearch.weights/v1``, ``model``, ``target`` and
``layers`` = JSON ``{L: {weight_bits, activation_bits, activation_signed}}``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load, load_file, save
from torch import nn

from hwsearch.export.base import ExportError
from hwsearch.export.calibrated import Calibrated
from hwsearch.core.graph import quantizable_modules
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.quant import ActivationQuant, QuantLayer, WeightQuant
from hwsearch.quant.folding import fold_batchnorm

FORMAT = "hwsearch.weights/v1"


def export_weights(cal: Calibrated, doc: dict) -> bytes:
    """The safetensors file of a calibrated policy."""
    tensors: dict[str, torch.Tensor] = {}
    layers = {}
    for name, lq in cal.layers.items():
        if lq.weight is not None:
            tensors[f"{name}.weight_int"] = lq.weight_int.contiguous()
            tensors[f"{name}.weight_scale"] = lq.weight.scale.detach().float().contiguous()
            tensors[f"{name}.weight_clip_ratio"] = lq.weight.clip_ratio.detach().float().contiguous()
        if lq.activation is not None:
            tensors[f"{name}.input_scale"] = torch.tensor(lq.activation.scale, dtype=torch.float64)
        layers[name] = {
            "weight_bits": lq.weight_bits,
            "activation_bits": lq.activation_bits,
            "activation_signed": None if lq.activation is None else lq.activation.signed,
        }
    quantized = {f"{name}.weight" for name, lq in cal.layers.items() if lq.weight is not None}
    for key, value in cal.model.state_dict().items():
        if key not in quantized:
            tensors[f"float.{key}"] = value.detach().clone().contiguous()  # cloned: a reused module's keys share storage
    metadata = {
        "format": FORMAT,
        "model": str(doc.get("model", "")),
        "target": str(doc.get("target", "")),
        "layers": json.dumps(layers),
    }
    return save(tensors, metadata=metadata)


class RebuiltQuantizedModel(nn.Module):
    """A float model whose Conv2d/Linear layers run at the bits and scales of a weights file.

    Same layer wrappers (``QuantLayer``) as the search's ``QuantizedModel``, so in eval mode
    its outputs equal the simulation's; ``.layers`` maps layer name -> ``QuantLayer``.
    """

    def __init__(self, model: nn.Module, layers: dict[str, QuantLayer], policy: Policy) -> None:
        super().__init__()
        self.model = model
        self.layers = layers
        self.policy = policy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _read(weights_file: str | Path | bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    if isinstance(weights_file, (bytes, bytearray)):
        tensors = load(bytes(weights_file))
        # safetensors layout: u64 little-endian header length, then the JSON header.
        header_len = struct.unpack("<Q", weights_file[:8])[0]
        metadata = json.loads(weights_file[8 : 8 + header_len]).get("__metadata__", {})
        return tensors, metadata
    path = str(weights_file)
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata() or {}
    return load_file(path), metadata


def _wrap(model: nn.Module) -> dict[str, QuantLayer]:
    """Replace each Conv2d/Linear by a QuantLayer (one per module, even if reused)."""
    names = {id(m): n for n, m in quantizable_modules(model).items()}
    wrappers: dict[int, QuantLayer] = {}
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if id(child) in names:
                wrappers.setdefault(id(child), QuantLayer(names[id(child)], child))
                setattr(parent, child_name, wrappers[id(child)])
    return {w.name: w for w in wrappers.values()}


def rebuild_quantized_model(
    float_model: nn.Module, policy: Policy | dict, weights_file: str | Path | bytes
) -> RebuiltQuantizedModel:
    """The fake-quantized model the search evaluated, from the float model, the policy and
    a ``format=weights`` file (path or bytes); the float model itself is not modified.

    ``policy`` is a ``Policy`` or a policy document (its ``layers``); it must match the
    file's bits. In eval mode the outputs equal the search's simulated model's.
    """
    if isinstance(policy, dict):
        from hwsearch.export.calibrated import policy_of

        policy = policy_of(policy)
    tensors, metadata = _read(weights_file)
    if metadata.get("format") != FORMAT:
        raise ExportError(f"weights file: format is {metadata.get('format')!r}, expected {FORMAT!r}")
    file_layers = json.loads(metadata["layers"])
    model = fold_batchnorm(float_model)  # the file holds the folded model's tensors, as the simulation ran it
    rest = {k.removeprefix("float."): v for k, v in tensors.items() if k.startswith("float.")}
    if rest:
        unknown = sorted(set(rest) - set(model.state_dict()))
        if unknown:
            raise ExportError(f"weights file: tensors {unknown[:3]} are not in the model; is it the policy's model?")
        try:
            model.load_state_dict(rest, strict=False)
        except RuntimeError as exc:
            raise ExportError(f"weights file: {str(exc).splitlines()[0]}") from None
    layers = _wrap(model)
    policy.check_layers(layers)
    for name, layer in layers.items():
        bits, info = policy[name], file_layers.get(name)
        if info is None or (info["weight_bits"], info["activation_bits"]) != (bits.weight_bits, bits.activation_bits):
            raise ExportError(f"weights file: layer {name!r} has bits {info} there, the policy says {bits}")
        if bits.weight_bits != FLOAT_BITS:
            q = tensors[f"{name}.weight_int"]
            if tuple(q.shape) != tuple(layer.layer.weight.shape):
                raise ExportError(f"weights file: layer {name!r} weight shape {tuple(q.shape)} != model's {tuple(layer.layer.weight.shape)}")
            scale = tensors[f"{name}.weight_scale"]
            layer.weight_quant = WeightQuant(bits.weight_bits, scale, tensors[f"{name}.weight_clip_ratio"])
            shape = (-1,) + (1,) * (q.dim() - 1)
            layer.eval_weight = q.to(torch.float32) * scale.view(shape)
        if bits.activation_bits != FLOAT_BITS:
            scale = float(tensors[f"{name}.input_scale"])
            layer.activation_quant = ActivationQuant(bits.activation_bits, scale, bool(info["activation_signed"]))
    return RebuiltQuantizedModel(model, layers, policy).eval()
