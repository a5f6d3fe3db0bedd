"""Simulated (fake) quantization of a whole model under a ``Policy``.

``QuantizedModel`` wraps a copy of the float model (the original is never touched)
with BatchNorm folded into the convs before it (``hwsearch.quant.folding``: what a
runtime's integer conv computes). Each Conv2d/Linear becomes a ``QuantLayer`` that fake-quantizes its input
activation and uses quantized weights. Quantized weights and activation ranges are
computed once per (layer, bits) and cached, so switching policy is a pointer swap and
evaluating a policy costs about one forward pass. In training mode weights are
re-quantized on every step with a straight-through estimator (quantization-aware
fine-tuning); call ``reset_cache()`` after changing the weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwsearch.core.graph import quantizable_modules
from hwsearch.core.policy import FLOAT_BITS, Policy
from hwsearch.quant.calibration import InputStats, collect_input_stats
from hwsearch.quant.folding import fold_batchnorm
from hwsearch.quant.quantizers import (
    ActivationQuant,
    WeightQuant,
    quantize_activation,
    quantize_bias,
    quantize_weight,
    quantize_weight_ste,
    search_activation_quant,
    search_weight_quant,
)


class QuantLayer(nn.Module):
    """A Conv2d or Linear running at the bits its ``QuantizedModel`` assigns."""

    def __init__(self, name: str, layer: nn.Conv2d | nn.Linear) -> None:
        super().__init__()
        self.name = name
        self.layer = layer
        self.weight_quant: WeightQuant | None = None
        self.activation_quant: ActivationQuant | None = None
        self.eval_weight: torch.Tensor | None = None  # cached fake-quantized weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation_quant is not None:
            x = quantize_activation(x, self.activation_quant)
        weight = self.layer.weight
        if self.weight_quant is not None:
            if self.training or self.eval_weight is None:
                weight = quantize_weight_ste(weight, self.weight_quant)
            else:
                weight = self.eval_weight
        bias = self.layer.bias
        if bias is not None and self.activation_quant is not None and self.weight_quant is not None:
            bias = quantize_bias(bias, self.activation_quant, self.weight_quant)
        if isinstance(self.layer, nn.Conv2d):
            return self.layer._conv_forward(x, weight, bias)
        return F.linear(x, weight, bias)


class QuantizedModel(nn.Module):
    """A float model plus per-layer quantizers, switchable between policies."""

    def __init__(self, model: nn.Module, calib_x: torch.Tensor, max_calib: int = 512, seed: int = 0) -> None:
        super().__init__()
        self.model = fold_batchnorm(model)  # a copy, in eval mode
        self._stats: dict[str, InputStats] = collect_input_stats(self.model, calib_x[:max_calib], seed=seed)
        self.layers: dict[str, QuantLayer] = self._wrap_layers()
        self._weight_cache: dict[tuple[str, int], tuple[WeightQuant, torch.Tensor]] = {}
        self._act_cache: dict[tuple[str, int], ActivationQuant] = {}
        self._policy = Policy.uniform(self.layers, FLOAT_BITS)
        self.eval()  # an nn.Module starts in training mode; a quantized model is for evaluation first

    def _wrap_layers(self) -> dict[str, QuantLayer]:
        """Replace every Conv2d/Linear child by a QuantLayer (one per module, even if reused)."""
        names = {id(m): n for n, m in quantizable_modules(self.model).items()}
        wrappers: dict[int, QuantLayer] = {}
        for parent in list(self.model.modules()):
            for child_name, child in list(parent.named_children()):
                if id(child) in names:
                    if id(child) not in wrappers:
                        wrappers[id(child)] = QuantLayer(names[id(child)], child)
                    setattr(parent, child_name, wrappers[id(child)])
        return {w.name: w for w in sorted(wrappers.values(), key=lambda w: list(names.values()).index(w.name))}

    @property
    def layer_names(self) -> list[str]:
        return list(self.layers)

    @property
    def policy(self) -> Policy:
        return self._policy

    def weight_quant(self, name: str, bits: int) -> tuple[WeightQuant, torch.Tensor]:
        """Quantizer and fake-quantized weight of ``name`` at ``bits`` (cached)."""
        key = (name, bits)
        if key not in self._weight_cache:
            weight = self.layers[name].layer.weight
            wq = search_weight_quant(weight, bits)
            self._weight_cache[key] = (wq, quantize_weight(weight, wq))
        return self._weight_cache[key]

    def activation_quant(self, name: str, bits: int) -> ActivationQuant:
        """Quantizer of ``name``'s input activation at ``bits`` (cached)."""
        key = (name, bits)
        if key not in self._act_cache:
            stats = self._stats[name]
            self._act_cache[key] = search_activation_quant(stats.samples, bits, stats.signed)
        return self._act_cache[key]

    def set_policy(self, policy: Policy) -> QuantizedModel:
        """Switch every layer to the policy's bits (cheap after the first use of each width)."""
        policy.check_layers(self.layers)
        for name, layer in self.layers.items():
            bits = policy[name]
            if bits.weight_bits == FLOAT_BITS:
                layer.weight_quant, layer.eval_weight = None, None
            else:
                layer.weight_quant, layer.eval_weight = self.weight_quant(name, bits.weight_bits)
            layer.activation_quant = (
                None if bits.activation_bits == FLOAT_BITS else self.activation_quant(name, bits.activation_bits)
            )
        self._policy = policy
        return self

    def precompute(self, bits: range | list[int]) -> None:
        """Fill the caches for every layer at every width in ``bits`` (e.g. before a search)."""
        for name in self.layers:
            for b in bits:
                if b != FLOAT_BITS:
                    self.weight_quant(name, b)
                    self.activation_quant(name, b)

    def reset_cache(self) -> None:
        """Forget cached quantized weights (after fine-tuning changed the float weights)."""
        self._weight_cache.clear()
        self.set_policy(self._policy)

    def float_state_dict(self) -> dict[str, torch.Tensor]:
        """The wrapped model's float weights under the original model's keys (each
        ``QuantLayer`` adds a ``.layer`` level), so fine-tuned weights load into a fresh
        copy of the float model. Tensors are cloned: a reused module's two keys stay two."""
        wrapped = [p for p, m in self.model.named_modules(remove_duplicate=False) if isinstance(m, QuantLayer)]
        out = {}
        for key, value in self.model.state_dict().items():
            for path in wrapped:
                head = f"{path}.layer." if path else "layer."
                if key.startswith(head):
                    key = (f"{path}." if path else "") + key[len(head):]
                    break
            out[key] = value.detach().cpu().clone().contiguous()  # host memory: it is saved as a file
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
