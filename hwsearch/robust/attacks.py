"""White-box L-infinity attacks (FGSM, PGD) on a float or fake-quantized model.

Inputs are images in the data's [0, 1] pixel range (models normalise inside), so
``eps`` is in pixel units: ``eps=8/255`` is the usual CIFAR budget, ``0.1`` is a
tenth of the full range. Every adversarial image stays in the eps ball around its
clean image *and* in [0, 1].

Gradients are taken w.r.t. the input with the model in eval mode. Through a
``QuantizedModel`` they pass the activation quantizers by the straight-through
estimator (``torch.fake_quantize_per_tensor_affine`` is used whenever the input
needs a gradient: identity inside the clipping range, zero outside), and weights
are the cached fake-quantized ones: the attacker sees the deployed model.

Accuracy on adversarial images is measured exactly like clean accuracy
(``hwsearch.evaluate.accuracy``: same batches, inference mode), so ``eps=0`` gives
the clean accuracy bit for bit.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hwsearch.core.device import model_device
from hwsearch.core.robust_spec import RobustSpec
from hwsearch.data import Split

ATTACKS = ("fgsm", "pgd")
ATTACK_BATCH = 256


@dataclass(frozen=True)
class Attack:
    """One attack configuration.

    ``steps``/``step_size``/``random_start`` only matter for PGD; ``step_size=None``
    means ``2.5 * eps / steps`` (Madry et al. 2018's rule of thumb: the iterate can
    cross the ball even after bouncing off its faces).
    """

    kind: str = "pgd"
    eps: float = 0.1
    steps: int = 10
    step_size: float | None = None
    random_start: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ATTACKS:
            raise ValueError(f"attack: unknown attack {self.kind!r}; choose from {', '.join(ATTACKS)}")
        if not (math.isfinite(self.eps) and 0 <= self.eps <= 1):
            raise ValueError(f"eps: must be in [0, 1] (pixel units of the [0, 1] range), got {self.eps}")
        if self.steps < 1:
            raise ValueError(f"steps: must be >= 1, got {self.steps}")
        if self.step_size is not None and not self.step_size > 0:
            raise ValueError(f"step_size: must be > 0, got {self.step_size}")

    @property
    def alpha(self) -> float:
        if self.kind == "fgsm":
            return self.eps
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps

    def describe(self) -> str:
        if self.kind == "fgsm":
            return f"FGSM eps={self.eps:g}"
        return f"PGD-{self.steps} eps={self.eps:g} step={self.alpha:.3g}" + (" rand" if self.random_start else "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["step_size"] = self.alpha
        if self.kind == "fgsm":
            d["steps"], d["random_start"] = 1, False
        return d


_KEY = re.compile(r"^(eps|steps|step|step_size|seed|rand|random_start)$")


def attack_of(spec: RobustSpec, seed: int) -> Attack:
    """The attack a search's ``robust`` block asks for, seeded by the search's seed."""
    return Attack(spec.attack, spec.eps, spec.steps, spec.step_size, spec.random_start, seed)


def parse_attack(text: str, seed: int = 0) -> Attack:
    """``"pgd:eps=0.1,steps=10"``, ``"fgsm:eps=0.05"`` or ``"pgd"`` -> ``Attack``."""
    kind, _, rest = text.strip().partition(":")
    kw: dict = {"kind": kind.strip().lower(), "seed": seed}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise ValueError(f"attack: cannot read {part!r}; use e.g. pgd:eps=0.1,steps=10,step=0.025,rand=1")
        try:
            if key in ("steps", "seed"):
                kw[key] = int(value)
            elif key in ("rand", "random_start"):
                kw["random_start"] = value.strip().lower() in ("1", "true", "yes")
            else:
                kw["step_size" if key == "step" else key] = float(value)
        except ValueError:
            raise ValueError(f"attack: {key}={value!r} is not a number") from None
    return Attack(**kw)


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Back into the eps ball around ``x`` and into [0, 1]."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size eps."""
    return _project(x + eps * _input_grad(model, x, y).sign(), x, eps).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018), L-infinity, on the cross-entropy.

    Keeps, per image, the iterate with the highest loss seen (so more steps never make
    the attack weaker on the images it is run on than its own earlier steps).
    """
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    x = x.detach()
    if random_start and eps > 0:
        # drawn on the host (the generator's device, so a seed means the same noise anywhere)
        noise = (torch.rand(x.shape, generator=generator, dtype=x.dtype) * (2 * eps) - eps).to(x.device)
        x_adv = _project(x + noise, x, eps)
    else:
        x_adv = x.clone()
    best, best_loss = x_adv.clone(), torch.full((x.shape[0],), -math.inf)
    for _ in range(steps + 1):
        xa = x_adv.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(xa)
            losses = F.cross_entropy(logits, y, reduction="none")
            (grad,) = torch.autograd.grad(losses.sum(), xa)
        wrong = logits.argmax(1) != y  # already misclassified: a success, keep it
        score = torch.where(wrong, torch.full_like(losses, math.inf), losses).detach()
        better = score > best_loss
        best[better], best_loss[better] = x_adv[better], score[better]
        if _ == steps:
            break
        x_adv = _project(x_adv + alpha * grad.sign(), x, eps)
    return best.detach()


def perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack, generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial versions of ``x`` under ``attack`` (model switched to eval mode and restored)."""
    was_training = model.training
    model.eval()
    try:
        if attack.kind == "fgsm":
            return fgsm(model, x, y, attack.eps)
        return pgd(model, x, y, attack.eps, attack.steps, attack.alpha, attack.random_start, generator)
    finally:
        model.train(was_training)


def adversarial_split(
    model: nn.Module, split: Split, attack: Attack, batch_size: int = ATTACK_BATCH, check: Callable[[], None] | None = None
) -> Split:
    """The whole split attacked (batched, seeded by ``attack.seed``: same model, same images).

    ``check()`` runs before every batch; it may raise to abandon the attack (a cancel)."""
    generator = torch.Generator().manual_seed(attack.seed)
    device = model_device(model)  # attacked on the model's device, kept in host memory like the split
    parts = []
    for i in range(0, len(split), batch_size):
        if check is not None:
            check()
        parts.append(perturb(model, split.x[i : i + batch_size].to(device), split.y[i : i + batch_size].to(device), attack, generator).cpu())
    return Split(torch.cat(parts) if parts else split.x[:0], split.y)


def robust_accuracy(model: nn.Module, split: Split, attack: Attack, check: Callable[[], None] | None = None) -> float:
    """Top-1 accuracy (0..1) of ``model`` on ``split`` attacked by ``attack``."""
    from hwsearch.evaluate import accuracy

    return accuracy(model, adversarial_split(model, split, attack, check=check))


@dataclass(frozen=True)
class RobustReport:
    """Clean and attacked accuracies of one model on one subset, with what they cost."""

    samples: int
    clean: float
    attacked: dict[str, float]  # Attack.describe() -> accuracy
    seconds: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_robustness(model: nn.Module, split: Split, attacks: list[Attack]) -> RobustReport:
    """Clean accuracy and accuracy under each attack on ``split`` (timed)."""
    from hwsearch.evaluate import accuracy

    t0 = time.perf_counter()
    clean = accuracy(model, split)
    seconds = {"clean": time.perf_counter() - t0}
    attacked = {}
    for attack in attacks:
        t0 = time.perf_counter()
        attacked[attack.describe()] = robust_accuracy(model, split, attack)
        seconds[attack.describe()] = time.perf_counter() - t0
    return RobustReport(len(split), clean, attacked, seconds)
