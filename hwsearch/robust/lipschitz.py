"""Lipschitz control for defensive quantization (Lin, Gan, Han, ICLR 2019, Eq. 8).

The penalty is ``beta * sum_l ||G_l - I||_F^2`` over every Conv2d/Linear weight,
where ``G_l`` is the *smaller* Gram matrix of the layer's 2-D weight matrix ``W``
(``m`` rows = output channels, ``n`` columns = inputs x kernel):

- wide or square (``m <= n``): ``G = W W^T`` (m x m), zero iff the rows are
  orthonormal, and then every singular value is 1, so ``||W||_2 = 1``;
- tall (``m > n``, e.g. a classifier with fewer inputs than outputs, or a 1x1 conv
  that expands): ``G = W^T W`` (n x n), zero iff the columns are orthonormal.

The larger Gram could never reach zero (rank <= min(m, n)), so it would leave a
constant ``|m - n|`` in the penalty and fight the task loss for nothing. The paper
writes ``||W^T W - I||^2`` with its own orientation of ``W``; both pick the Gram whose
identity target is reachable.

Convolutions: ``W`` (out, in/groups, kh, kw) is reshaped to (out, in/groups*kh*kw)
*per group*: a grouped conv is block-diagonal across groups, so rows of different
groups never act on the same inputs and are penalised separately. A depthwise conv
therefore gives one 1 x (kh*kw) row per channel and the penalty pulls each filter to
unit norm. (The spectral norm of the reshaped matrix is the usual proxy for a conv's
Lipschitz constant -- the exact operator norm also depends on stride and padding and
is at most ``sqrt(kh*kw)`` times larger.)

BatchNorm: in eval mode (fine-tuning freezes it) a BatchNorm right after a conv is a
per-channel scale ``s = gamma / sqrt(var + eps)``, which multiplies the layer's
Lipschitz constant. With ``fold_bn=True`` (default) the penalised and reported matrix
is ``diag(s) W``, the weight a deployment folds anyway; gradients then reach gamma too.

Analytic gradient (tested against autograd): for ``P = ||W W^T - I||^2``,
``dP/dW = 4 (W W^T - I) W``; for ``P = ||W^T W - I||^2``, ``dP/dW = 4 W (W^T W - I)``.
Training uses autograd on the same expression (it also covers the BN fold).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwsearch.core.robust_spec import DEFAULT_BETA


def _quantizable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, Conv2d/Linear) pairs, names as in ``QuantizedModel.layers`` when wrapped."""
    from hwsearch.quant.model import QuantLayer

    out, seen = [], set()
    for name, module in model.named_modules():
        if isinstance(module, QuantLayer):
            out.append((module.name, module.layer))
            seen.add(id(module.layer))
        elif isinstance(module, (nn.Conv2d, nn.Linear)) and id(module) not in seen:
            out.append((name, module))
    return out


def _following_batchnorm(model: nn.Module) -> dict[int, nn.BatchNorm2d]:
    """Conv (by id) -> the BatchNorm2d that directly follows it in a Sequential."""
    from hwsearch.quant.model import QuantLayer

    found: dict[int, nn.BatchNorm2d] = {}
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.children())
        for a, b in zip(children, children[1:]):
            conv = a.layer if isinstance(a, QuantLayer) else a
            if isinstance(conv, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and b.num_features == conv.out_channels:
                found[id(conv)] = b
    return found


def bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    """Per-channel gain of an eval-mode BatchNorm."""
    gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
    return gamma / torch.sqrt(bn.running_var + bn.eps)


def weight_matrices(layer: nn.Module, scale: torch.Tensor | None = None) -> list[torch.Tensor]:
    """The 2-D matrices of a Conv2d (one per group) or Linear, optionally row-scaled."""
    w = layer.weight
    if scale is not None:
        w = w * scale.view(-1, *([1] * (w.dim() - 1)))
    if isinstance(layer, nn.Conv2d):
        groups = layer.groups
        per = w.shape[0] // groups
        return [w[g * per : (g + 1) * per].reshape(per, -1) for g in range(groups)]
    return [w]


def layer_matrices(model: nn.Module, fold_bn: bool = True) -> dict[str, list[torch.Tensor]]:
    """Every quantizable layer's 2-D weight matrices (per group; BN folded if asked)."""
    bns = _following_batchnorm(model) if fold_bn else {}
    out = {}
    for name, layer in _quantizable(model):
        bn = bns.get(id(layer))
        out[name] = weight_matrices(layer, bn_scale(bn) if bn is not None else None)
    return out


def gram_residual(w: torch.Tensor) -> torch.Tensor:
    """``W W^T - I`` (wide/square) or ``W^T W - I`` (tall)."""
    m, n = w.shape
    if m <= n:
        return w @ w.T - torch.eye(m, dtype=w.dtype)
    return w.T @ w - torch.eye(n, dtype=w.dtype)


def orthogonality(w: torch.Tensor) -> torch.Tensor:
    """``||G - I||_F^2`` of one 2-D matrix (see the module docstring for which Gram)."""
    return gram_residual(w).pow(2).sum()


def orthogonality_grad(w: torch.Tensor) -> torch.Tensor:
    """Analytic gradient of ``orthogonality(w)`` w.r.t. ``w``."""
    w = w.detach()
    r = gram_residual(w)
    return 4 * (r @ w) if w.shape[0] <= w.shape[1] else 4 * (w @ r)


def orthogonality_penalty(model: nn.Module, beta: float = DEFAULT_BETA, fold_bn: bool = True) -> torch.Tensor:
    """``beta * sum_l ||G_l - I||^2`` over the model's conv and linear layers (differentiable)."""
    total = torch.zeros(())
    for mats in layer_matrices(model, fold_bn).values():
        for w in mats:
            total = total + orthogonality(w)
    return beta * total


def lipschitz_loss(beta: float = DEFAULT_BETA, fold_bn: bool = True) -> Callable[[nn.Module], torch.Tensor]:
    """The ``extra_loss`` for ``hwsearch.evaluate.finetune``."""
    return lambda model: orthogonality_penalty(model, beta, fold_bn)


def spectral_norm(w: torch.Tensor, iters: int = 50, seed: int = 0) -> float:
    """Largest singular value of a 2-D matrix by power iteration on ``W^T W``."""
    w = w.detach()
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(w.shape[1], generator=g, dtype=w.dtype)
    v = v / v.norm().clamp_min(1e-12)
    sigma = 0.0
    for _ in range(iters):
        u = w @ v
        sigma = float(u.norm())
        if sigma == 0.0:
            return 0.0
        v = w.T @ (u / sigma)
        v = v / v.norm().clamp_min(1e-12)
    return float((w @ v).norm())


def spectral_norms(model: nn.Module, fold_bn: bool = True, iters: int = 50) -> dict[str, float]:
    """Per quantizable layer: the spectral norm of its matrix (max over groups).

    Measured on the float (shadow) weights; quantization adds at most the norm of the
    rounding error, which the report of quantized weights can show separately.
    """
    with torch.no_grad():
        return {name: max(spectral_norm(w, iters) for w in mats) for name, mats in layer_matrices(model, fold_bn).items()}


def defensive_finetune(
    qmodel,
    split,
    beta: float = DEFAULT_BETA,
    steps: int = 300,
    lr: float = 1e-4,
    batch_size: int = 128,
    seed: int = 0,
    fold_bn: bool = True,
    progress=None,
):
    """Quantization-aware fine-tune with the orthogonality penalty (``beta=0``: vanilla)."""
    from hwsearch.evaluate import finetune

    extra = lipschitz_loss(beta, fold_bn) if beta > 0 else None
    return finetune(qmodel, split, steps=steps, lr=lr, batch_size=batch_size, seed=seed, extra_loss=extra, progress=progress)
