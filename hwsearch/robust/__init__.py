"""Adversarial robustness of quantized models (Defensive Quantization, Lin et al. ICLR 2019).

- ``attacks``: FGSM and PGD (L-infinity, eps in [0, 1] pixel units) through the
  quantizers by the straight-through estimator; clean / attacked accuracy.
- ``amplification``: per-layer relative output distance under attack.
- ``lipschitz``: the orthogonality penalty, its analytic gradient, spectral norms by
  power iteration, and the defensive (Lipschitz-regularised) fine-tune.
- ``search``: robust accuracy of policies inside a search (cached per policy).
"""

from hwsearch.robust.amplification import error_amplification
from hwsearch.robust.attacks import (
    ATTACKS,
    Attack,
    RobustReport,
    adversarial_split,
    evaluate_robustness,
    fgsm,
    parse_attack,
    perturb,
    pgd,
    robust_accuracy,
)
from hwsearch.robust.lipschitz import (
    DEFAULT_BETA,
    defensive_finetune,
    lipschitz_loss,
    orthogonality,
    orthogonality_grad,
    orthogonality_penalty,
    spectral_norm,
    spectral_norms,
)

__all__ = [
    "ATTACKS",
    "Attack",
    "DEFAULT_BETA",
    "RobustReport",
    "adversarial_split",
    "defensive_finetune",
    "error_amplification",
    "evaluate_robustness",
    "fgsm",
    "lipschitz_loss",
    "orthogonality",
    "orthogonality_grad",
    "orthogonality_penalty",
    "parse_attack",
    "perturb",
    "pgd",
    "robust_accuracy",
    "spectral_norm",
    "spectral_norms",
]
