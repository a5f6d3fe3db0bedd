"""What a search returns: ``SearchResult`` and its parts (dataclasses with ``to_dict``).

NaN figures (energy on a target without energy tables) are written as ``null`` in
``to_dict`` so the result is strict JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from hwsearch.core.policy import Policy
from hwsearch.core.spec import SearchSpec


def _num(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _back(value: float | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class EvaluatedPolicy:
    """A policy with its accuracy (0..1, validation subset) and costs.

    ``episode`` is the 1-based episode that proposed it, or None for evaluations that are
    not episodes (the int8 baseline, a greedy/ILP sensitivity probe).
    """

    policy: Policy
    accuracy: float
    latency_ms: float
    energy_mj: float
    size_mb: float
    episode: int | None = None
    robust_accuracy: float | None = None  # under the spec's robust attack (None: not measured)
    robust_clean_accuracy: float | None = None  # clean, on the same attacked subset
    confirmed_accuracy: float | None = None  # on the search's subset and the confirmation images together

    def to_dict(self) -> dict[str, Any]:
        d = {
            "policy": self.policy.to_dict(),
            "accuracy": self.accuracy,
            "latency_ms": _num(self.latency_ms),
            "energy_mj": _num(self.energy_mj),
            "size_mb": self.size_mb,
            "episode": self.episode,
        }
        if self.robust_accuracy is not None:
            d["robust_accuracy"], d["robust_clean_accuracy"] = self.robust_accuracy, self.robust_clean_accuracy
        if self.confirmed_accuracy is not None:
            d["confirmed_accuracy"] = self.confirmed_accuracy
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaluatedPolicy:
        return cls(
            Policy.from_dict(d["policy"]), d["accuracy"], _back(d["latency_ms"]), _back(d["energy_mj"]), d["size_mb"], d["episode"],
            d.get("robust_accuracy"), d.get("robust_clean_accuracy"), d.get("confirmed_accuracy"),
        )


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode: its final (fitted, feasible) policy, scores and reward."""

    episode: int
    reward: float
    accuracy: float
    latency_ms: float
    energy_mj: float
    size_mb: float
    policy: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["latency_ms"], d["energy_mj"] = _num(self.latency_ms), _num(self.energy_mj)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpisodeRecord:
        return cls(d["episode"], d["reward"], d["accuracy"], _back(d["latency_ms"]), _back(d["energy_mj"]), d["size_mb"], d["policy"])


@dataclass(frozen=True)
class Baseline:
    """Uniform 8-bit: the reference a relative budget is a fraction of."""

    latency_ms: float
    energy_mj: float
    size_mb: float
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {"latency_ms": _num(self.latency_ms), "energy_mj": _num(self.energy_mj), "size_mb": self.size_mb, "accuracy": self.accuracy}


@dataclass(frozen=True)
class FinetuneResult:
    accuracy_before: float
    accuracy_after: float
    steps: int
    defensive: bool = False
    beta: float | None = None  # orthogonality penalty strength (defensive only)
    robust_accuracy_before: float | None = None  # when the spec has a robust block
    robust_accuracy_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchProgress:
    """Reported after each episode (``episode`` is the number finished so far)."""

    episode: int
    episodes: int
    best_accuracy: float
    best_latency_ms: float
    best_energy_mj: float
    reward: float
    accuracy: float
    elapsed_s: float
    latency_ms: float = math.nan
    energy_mj: float = math.nan
    evaluations: int = 0
    eval_seconds: float = 0.0


@dataclass
class SearchResult:
    spec: SearchSpec
    best: EvaluatedPolicy
    pareto: list[EvaluatedPolicy]
    history: list[EpisodeRecord]
    float_accuracy: float
    baseline_int8: Baseline
    evaluations: int
    wall_time_s: float
    cancelled: bool = False
    finetune: FinetuneResult | None = None
    budget: float = math.nan  # the budget in the objective's unit
    unit: str = ""
    eval_seconds: float = 0.0  # time spent measuring accuracy (this process)
    robustness: dict[str, Any] | None = None  # attack settings, float robust accuracy, cost (spec.robust)
    confirmation: dict[str, Any] | None = None  # how the best was confirmed (hwsearch.search.confirm), if it was
    # the best policy's fine-tuned float weights (safetensors bytes; not in to_dict: they
    # go beside the policy file or into the store, see hwsearch.finetuned_weights)
    finetuned_weights: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.model_dump(mode="json"),
            "best": self.best.to_dict(),
            "pareto": [p.to_dict() for p in self.pareto],
            "history": [h.to_dict() for h in self.history],
            "float_accuracy": self.float_accuracy,
            "baseline_int8": self.baseline_int8.to_dict(),
            "evaluations": self.evaluations,
            "wall_time_s": self.wall_time_s,
            "cancelled": self.cancelled,
            "finetune": self.finetune.to_dict() if self.finetune else None,
            "budget": self.budget,
            "unit": self.unit,
            "eval_seconds": self.eval_seconds,
            "robustness": self.robustness,
            "confirmation": self.confirmation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchResult:
        b = d["baseline_int8"]
        return cls(
            spec=SearchSpec.model_validate(d["spec"]),
            best=EvaluatedPolicy.from_dict(d["best"]),
            pareto=[EvaluatedPolicy.from_dict(p) for p in d["pareto"]],
            history=[EpisodeRecord.from_dict(h) for h in d["history"]],
            float_accuracy=d["float_accuracy"],
            baseline_int8=Baseline(_back(b["latency_ms"]), _back(b["energy_mj"]), b["size_mb"], b["accuracy"]),
            evaluations=d["evaluations"],
            wall_time_s=d["wall_time_s"],
            cancelled=d["cancelled"],
            finetune=FinetuneResult(**d["finetune"]) if d.get("finetune") else None,
            budget=d.get("budget", math.nan),
            unit=d.get("unit", ""),
            eval_seconds=d.get("eval_seconds", 0.0),
            robustness=d.get("robustness"),
            confirmation=d.get("confirmation"),
        )
