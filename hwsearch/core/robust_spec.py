"""``RobustSpec``: the optional ``robust`` block of a ``SearchSpec`` (plain JSON)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hwsearch.core.strict import SpecModel

DEFAULT_ROBUST_SAMPLES = 256
DEFAULT_BETA = 1e-3  # on the BN-folded matrices; see docs/robustness.md for the choice
MAX_ROBUST_WEIGHT = 1000.0  # HAQ's reward moves by tens; a larger weight only drowns it
MAX_BETA = 1.0  # a thousand times the default; docs/robustness.md sweeps up to 0.003


class RobustSpec(SpecModel):
    """Adversarial robustness in a search: reported, constrained, rewarded, defended.

    Always: every stored policy (best and Pareto front) carries its accuracy under the
    attack on the first ``samples`` validation images. ``min_accuracy``: only policies
    reaching it can be the answer (checked lazily, only for candidates that would beat
    the current best); none found -> the search fails naming ``robust.min_accuracy``.
    ``weight`` > 0: every candidate is attacked (dear) and HAQ's reward gains
    ``lambda * weight * (robust - robust_float)``; the best is the highest
    ``accuracy + weight * robust_accuracy``. ``defensive``: the final fine-tune
    (``finetune_steps``) adds the orthogonality penalty with ``beta``.
    """

    attack: Literal["pgd", "fgsm"] = Field("pgd", description="White-box attack: 'pgd' (L-inf, iterative) or 'fgsm'.")
    eps: float = Field(..., gt=0, le=1, description="L-infinity budget in the data's [0, 1] pixel units, e.g. 0.1 (must be > 0).")
    steps: int = Field(10, ge=1, le=1000, description="PGD iterations.")
    step_size: float | None = Field(None, gt=0, le=1, description="PGD step (at most 1); default 2.5 * eps / steps.")
    random_start: bool = Field(True, description="PGD starts from a random point of the eps ball (seeded by the spec's seed).")
    samples: int = Field(DEFAULT_ROBUST_SAMPLES, ge=1, le=100_000, description="Validation images attacked (the first N).")
    min_accuracy: float | None = Field(
        None, ge=0, le=1, description="Constraint: robust accuracy (0..1) the answer must reach; none -> the search fails."
    )
    weight: float = Field(
        0.0, ge=0, le=MAX_ROBUST_WEIGHT, description="Reward weight of robust accuracy (> 0 attacks every candidate: much dearer)."
    )
    defensive: bool = Field(False, description="Make the final fine-tune (finetune_steps > 0) Lipschitz-regularised.")
    beta: float = Field(
        DEFAULT_BETA, ge=0, le=MAX_BETA, description="Strength of the orthogonality penalty in the defensive fine-tune (at most 1)."
    )


def parse_robust_option(text: str) -> dict:
    """CLI ``--robust pgd:eps=0.1,steps=10,samples=256,min=0.5,weight=1,defensive=1,beta=0.003``."""
    kind, _, rest = text.strip().partition(":")
    body: dict = {"attack": kind.strip().lower()}
    alias = {"min": "min_accuracy", "step": "step_size", "rand": "random_start"}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        key = alias.get(key.strip(), key.strip())
        if not sep or key not in RobustSpec.model_fields or key == "attack":
            raise ValueError(f"robust: cannot read {part!r}; use e.g. pgd:eps=0.1,steps=10,samples=256,min=0.5")
        value = value.strip()
        if key in ("random_start", "defensive"):
            body[key] = value.lower() in ("1", "true", "yes")
        else:
            try:
                body[key] = int(value) if key in ("steps", "samples") else float(value)
            except ValueError:
                raise ValueError(f"robust.{key}: {value!r} is not a number") from None
    return body
