"""``fisher``: the ILP of ``agents.baselines`` on sensitivities read from gradients.

``ilp`` measures every decision at every narrower width, layers x widths x 2 accuracy
evaluations, which is most of its search. Here the same table, each decision's predicted
loss increase at each width, comes from one forward and one backward pass over a few
hundred calibration images: a second-order Taylor expansion of the loss with the
empirical Fisher information in place of the Hessian (as in AutoQuantize, NVIDIA Model
Optimizer), kept to its diagonal::

    weights of a layer at b bits:   1/2 * sum_i F_ii (Q_b(W)_i - W_i)^2,
                                    F_ii = mean over images of (d l_s / d W_i)^2
    its input activations at b:     1/2 * mean_s sum_j (d l_s / d x_sj)^2 (Q_b(x_sj) - x_sj)^2

``l_s`` is image ``s``'s cross-entropy with its true label, ``x_s`` the layer's input on it
(the gradient taken through this layer alone, not a residual branch beside it). ``Q_b`` are
the ``QuantizedModel``'s own quantizers (per-channel clipped weights, activation ranges
calibrated on the calibration split), so the error is the one the search simulates.

Why this form:
- The first-order term is left out, as HAWQ and AutoQuantize do: the model sits near a
  minimum of its training loss, and rounding errors are uncorrelated with the gradient.
- The diagonal is the expected quadratic form when rounding errors are independent and
  zero-mean, each with its own size: ``E[(g . e)^2] = sum g_i^2 e_i^2``. The exact form
  ``(g . e)^2`` of the one error at hand is too noisy on a few hundred images (a layer
  could score lower at 2 bits than at 3).
- Per-image gradients (``torch.func.vmap``), not per-batch ones: a batch's mean gradient
  averages images' gradients away, and its square is not the Fisher.
- Not HAWQ-v2's ``Tr(H)/n * ||Q(W) - W||^2``: it averages curvature over a layer (an error
  in a flat channel counts as much as one in a steep one), needs a double backward per
  Rademacher draw, and its Hutchinson estimate is noisy and may go negative away from a
  minimum. The Fisher diagonal is non-negative by construction.

Images: the calibration split, never the validation images the scorer measures on, and
not the training split, where a fitted model's gradients understate its errors on new data.
docs/benchmarks.md compares the answers and the cost with ``ilp``'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import grad, vmap
from torch import nn

from agents.base import Agent
from agents.baselines import propose_additive
from hwsearch.core.device import model_device
from hwsearch.core.policy import FLOAT_BITS
from hwsearch.core.problem import SearchProblem
from hwsearch.core.run import SearchRun
from hwsearch.quant import QuantizedModel
from hwsearch.quant.quantizers import quantize_activation
from hwsearch.splits import Split


@dataclass(frozen=True)
class Sensitivity:
    """Predicted loss increase (nats per image) of each decision at each width, ``[layer, width]``
    over ``problem.bits``, against the float model."""

    weights: np.ndarray
    activations: np.ndarray
    images: int
    seconds: float


def _layer_op(layer: nn.Conv2d | nn.Linear, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The layer without its bias (a weight or input error does not pass through the bias)."""
    if isinstance(layer, nn.Conv2d):
        return layer._conv_forward(x, weight, None)
    return F.linear(x, weight)


#: Per-image weight gradients are held this many values at a time (bounds memory on wide layers).
GRAD_CHUNK_VALUES = 1 << 24


def _squared_weight_grads(layer: nn.Conv2d | nn.Linear, calls: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``sum_s (d l_s / d W)^2`` over a batch's images, from each call's input ``x`` and the
    gradient ``g`` at its output (a reused module's calls share one weight: their
    gradients add up per image before squaring)."""
    weight = layer.weight.detach()

    def one(xs: torch.Tensor, gs: torch.Tensor) -> torch.Tensor:
        return grad(lambda w: (gs * _layer_op(layer, xs[None], w)[0]).sum())(weight)

    total = torch.zeros_like(weight)
    step = max(1, GRAD_CHUNK_VALUES // weight.numel())
    for lo in range(0, len(calls[0][0]), step):
        per_image = vmap(one)(calls[0][0][lo : lo + step], calls[0][1][lo : lo + step])
        for x, g in calls[1:]:
            per_image += vmap(one)(x[lo : lo + step], g[lo : lo + step])
        total += per_image.pow_(2).sum(0)
    return total


def draw_images(split: Split, images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``images`` of ``split`` (all if it has fewer) drawn with ``seed``, in split order."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(split), size=min(images, len(split)), replace=False))
    return split.x[chosen], split.y[chosen]


def fisher_sensitivity(
    problem: SearchProblem, images: int = 512, batch_size: int = 64, seed: int = 0
) -> Sensitivity:
    """Fisher estimates of every decision's loss increase at every width of ``problem.bits``,
    from ``images`` calibration images drawn with ``seed`` (see the module docstring)."""
    if problem.model is None or problem.dataset is None:
        raise ValueError("the fisher agent needs the problem's model and data set")
    start = time.perf_counter()
    calib = problem.dataset.calib
    # built as the scorer builds its own (same images, same sample seed): the same quantizers
    qmodel = QuantizedModel(problem.model, calib.x)
    x_all, y_all = draw_images(calib, images, seed)
    device = model_device(qmodel)
    names, bits = problem.names, problem.bits
    layers = [qmodel.layers[n].layer for n in names]
    fisher = [torch.zeros_like(layer.weight, dtype=torch.float64) for layer in layers]  # sum of squared image gradients
    act = np.zeros((len(names), len(bits)))  # sum over images of sum_j g_sj^2 e_sj^2
    for begin in range(0, len(y_all), batch_size):
        xb, yb = x_all[begin : begin + batch_size].to(device), y_all[begin : begin + batch_size].to(device)
        inputs: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        outputs: dict[str, list[torch.Tensor]] = {n: [] for n in names}

        def keep(name: str):
            def hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
                inputs[name].append(args[0].detach())
                outputs[name].append(out)
                # the rest of the model gets a copy: an in-place ReLU on ``out`` itself would
                # turn its gradient into that of the ReLU's output
                return out.clone()

            return hook

        handles = [qmodel.layers[n].register_forward_hook(keep(n)) for n in names]
        try:
            with torch.enable_grad():
                # the input carries the graph even if the model's parameters are frozen
                logits = qmodel(xb.clone().requires_grad_(True))
                flat = [out for n in names for out in outputs[n]]
                # summed, so each image's gradient is that of its own loss
                grads = torch.autograd.grad(F.cross_entropy(logits, yb, reduction="sum"), flat)
        finally:
            for handle in handles:
                handle.remove()
        at = 0
        for li, (name, layer) in enumerate(zip(names, layers)):
            calls = list(zip(inputs[name], grads[at : at + len(inputs[name])]))
            at += len(calls)
            fisher[li] += _squared_weight_grads(layer, calls).double()
            for x, g in calls:
                xr = x.clone().requires_grad_(True)
                with torch.enable_grad():
                    (gx,) = torch.autograd.grad(_layer_op(layer, xr, layer.weight.detach()), xr, g)
                gx2 = gx.pow_(2)
                for bi, b in enumerate(bits):
                    if b == FLOAT_BITS:
                        continue  # float: no quantization error
                    error = quantize_activation(x, qmodel.activation_quant(name, b)).sub_(x)
                    act[li, bi] += float(error.pow_(2).mul_(gx2).sum())
    weights = np.zeros((len(names), len(bits)))
    for li, (name, layer) in enumerate(zip(names, layers)):
        for bi, b in enumerate(bits):
            if b == FLOAT_BITS:
                continue
            error = qmodel.weight_quant(name, b)[1] - layer.weight.detach()
            weights[li, bi] = float((fisher[li] * error.double().pow(2)).sum())
    n = len(y_all)
    # each kind keeps the columns of its own widths (problem.bits is the union of both sets)
    w_cols = [bits.index(b) for b in problem.weight_bits]
    a_cols = [bits.index(b) for b in problem.activation_bits]
    return Sensitivity(0.5 * weights[:, w_cols] / n, 0.5 * act[:, a_cols] / n, n, time.perf_counter() - start)


class FisherAgent(Agent):
    """``ilp``'s integer program on Fisher estimates of each decision's loss increase
    (``fisher_sensitivity``) instead of measured accuracy drops: no probe evaluations, only
    its ``candidates`` (5) best distinct solutions. Options ``images`` (512 calibration
    images, drawn with the seed), ``batch_size`` (64), ``time_limit`` (30 s per solve)."""

    name = "fisher"
    description = "integer program on Fisher (gradient) estimates of each layer's loss increase: no probe evaluations"

    def __init__(self, candidates: int = 5, images: int = 512, batch_size: int = 64, time_limit: float = 30.0) -> None:
        super().__init__()
        self.candidates = candidates
        self.images = images
        self.batch_size = batch_size
        self.time_limit = time_limit

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        sens = fisher_sensitivity(run.problem, self.images, self.batch_size, seed)
        # the ILP's tie-break towards wider bits, scaled to this model's losses
        tie = 1e-7 * max(float(sens.weights.max()), float(sens.activations.max()), 1e-12)
        propose_additive(run, sens.weights, sens.activations, min(self.candidates, episodes), self.time_limit, tie)
