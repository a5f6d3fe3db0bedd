"""The error amplification measure (Lin et al. 2019, Sec. 3): how far each layer's output
moves, relative to its size, when the input is replaced by its adversarial version.

For every quantizable layer ``l`` (Conv2d/Linear, in execution order):
``||f_l(x') - f_l(x)||_2 / ||f_l(x)||_2`` over the whole batch (outputs of all images
stacked; a reused module's calls are summed). Through a ``QuantizedModel`` the hooked
output is the layer's output computed from its *quantized* input and weights, so the
curve shows how quantization buckets turn a small input change into a large one.
"""

from __future__ import annotations

import torch
from torch import nn


def _hook_targets(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from hwsearch.quant.model import QuantizedModel

    if isinstance(model, QuantizedModel):
        return list(model.layers.items())
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _layer_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    outputs: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name, module in _hook_targets(model):
        handles.append(module.register_forward_hook(lambda _m, _i, out, name=name: outputs.setdefault(name, []).append(out.detach().clone())))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return outputs


def error_amplification(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor) -> list[tuple[str, float]]:
    """``[("input", ||x'-x||/||x||), (layer, relative distance), ...]`` in execution order."""
    clean, adv = _layer_outputs(model, x), _layer_outputs(model, x_adv)
    curve = [("input", float((x_adv - x).norm() / x.norm().clamp_min(1e-12)))]
    for name, outs in clean.items():
        diff = sum(float((a - c).pow(2).sum()) for a, c in zip(adv[name], outs))
        size = sum(float(c.pow(2).sum()) for c in outs)
        curve.append((name, (diff / size) ** 0.5 if size > 0 else 0.0))
    return curve
