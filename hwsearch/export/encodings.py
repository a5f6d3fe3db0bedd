"""``format=encodings``: AIMET-style per-tensor encodings, layout version 0.6.1.

Layout (AIMET's ``version: "0.6.1"`` encodings file)::

    {"version": "0.6.1",
     "activation_encodings": {<tensor>: [Encoding]},
     "param_encodings": {<tensor>: [Encoding, ...one per output channel]},
     "excluded_layers": [], "quantizer_args": {...}}
    Encoding = {"bitwidth", "dtype": "int", "is_symmetric": "True"|"False",
                "min", "max", "offset", "scale"}

Tensor names are those of the ONNX graph of the ``onnx`` export (parameters keep their
PyTorch names, e.g. ``features.1.0.weight``; activations are the float tensors read by
each layer). AIMET's grid: ``real = (q + offset) * scale`` with ``q`` unsigned in
``[0, 2^bitwidth - 1]``, so ``min = offset * scale``. Our quantizers have zero point 0:
weights are strict symmetric (``offset = -(2^(b-1) - 1)``), signed activations
symmetric (``offset = -2^(b-1)``), activations after ReLU unsigned symmetric
(``offset = 0``). A tensor read by several layers has one encoding: the widest.
"""

from __future__ import annotations

import json

import torch

from hwsearch.export.calibrated import Calibrated
from hwsearch.export.onnx_qdq import float_onnx, layer_tensors

ENCODING_VERSION = "0.6.1"


def _encoding(bits: int, scale: float, offset: int, steps: int) -> dict:
    scale = float(scale)
    return {
        "bitwidth": bits,
        "dtype": "int",
        "is_symmetric": "True",
        "max": (offset + steps) * scale,
        "min": offset * scale,
        "offset": offset,
        "scale": scale,
    }


def weight_encodings(bits: int, scales: torch.Tensor) -> list[dict]:
    """Per-channel strict-symmetric encodings: integers in [-(2^(b-1)-1), 2^(b-1)-1]."""
    qmax = 2 ** (bits - 1) - 1
    return [_encoding(bits, s, -qmax, 2 * qmax) for s in scales.tolist()]


def activation_encoding(bits: int, scale: float, signed: bool) -> dict:
    """Per-tensor encoding: [-2^(b-1), 2^(b-1)-1] if signed, else [0, 2^b-1]."""
    return _encoding(bits, scale, -(2 ** (bits - 1)) if signed else 0, 2**bits - 1)


def encodings_document(cal: Calibrated, example: torch.Tensor, user_onnx: str | None = None) -> dict:
    """The encodings file as a dict; for a model searched from an ONNX file (``user_onnx``, its
    path) the tensor names are those of the user's graph, as in its ``onnx`` export."""
    if user_onnx:
        from hwsearch.export.onnx_user_qdq import layer_tensors as user_layer_tensors

        tensors = user_layer_tensors(user_onnx, list(cal.layers))
    else:
        tensors = layer_tensors(float_onnx(cal.model, example), list(cal.layers))
    params: dict[str, list[dict]] = {}
    acts: dict[str, list[dict]] = {}
    for name, lq in cal.layers.items():
        weight, inputs = tensors[name]
        if lq.weight is not None:
            params[weight] = weight_encodings(lq.weight_bits, lq.weight.scale)
        if lq.activation is not None:
            enc = activation_encoding(lq.activation_bits, lq.activation.scale, lq.activation.signed)
            for tensor in inputs:
                if tensor not in acts or acts[tensor][0]["bitwidth"] < enc["bitwidth"]:
                    acts[tensor] = [enc]
    return {
        "version": ENCODING_VERSION,
        "activation_encodings": acts,
        "param_encodings": params,
        "excluded_layers": [],
        "quantizer_args": {
            "activation_bitwidth": max((lq.activation_bits for lq in cal.layers.values() if lq.activation), default=32),
            "param_bitwidth": max((lq.weight_bits for lq in cal.layers.values() if lq.weight), default=32),
            "dtype": "int",
            "is_symmetric": True,
            "per_channel_quantization": True,
        },
    }


def export_encodings(cal: Calibrated, example: torch.Tensor, user_onnx: str | None = None) -> bytes:
    return (json.dumps(encodings_document(cal, example, user_onnx), indent=2) + "\n").encode("utf-8")
