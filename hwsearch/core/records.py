"""What a search measures, as one record type: ``EvaluatedPolicy``.

An episode, the best policy, a point of the Pareto front, a uniform reference policy and
a confirmed candidate are all a policy with its accuracy and costs; they differ only in
which optional fields are set. Figures a target does not have (energy on a latency-only
table) are ``None``, never NaN, so every record is strict JSON as it stands.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from hwsearch.core.policy import Policy


def finite_or_none(value: Any) -> Any:
    """NaN and infinities become None (pydantic ``before`` validators use it)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Record(BaseModel):
    """Strict JSON in, strict JSON out: non-finite floats are stored as None."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    @field_validator("*", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        return finite_or_none(value)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude=self._always_excluded()) | self._nullable()

    def _always_excluded(self) -> set[str]:
        return set()

    def _nullable(self) -> dict[str, Any]:
        """Fields written even when None (a reader expects the key)."""
        return {}


class LayerTotals(Record):
    """One layer name's latency and energy under a policy, summed over its calls."""

    latency_ms: float | None
    energy_mj: float | None


class EvaluatedPolicy(Record):
    """A policy with its accuracy (0..1, on the search's validation subset) and costs.

    ``episode`` is the 1-based episode that proposed it, None for evaluations that are
    not episodes (the int8 baseline, a sensitivity probe, a uniform reference).
    """

    policy: Policy
    accuracy: float
    latency_ms: float | None
    energy_mj: float | None
    size_mb: float
    episode: int | None = None
    reward: float | None = Field(None, description="HAQ's reward of the episode that measured it.")
    objective: float | None = Field(None, description="Cost in the objective's unit (not written: derived).")
    robust_accuracy: float | None = None  # under the spec's robust attack (None: not measured)
    robust_clean_accuracy: float | None = None  # clean, on the same attacked subset
    confirmed_accuracy: float | None = None  # on the search's subset and the confirmation images together
    layers: tuple[LayerTotals, ...] | None = None  # per layer name, for policies that become documents

    @field_validator("policy", mode="before")
    @classmethod
    def _policy(cls, value: Any) -> Policy:
        return value if isinstance(value, Policy) else Policy.from_dict(value)

    @field_serializer("policy")
    def _policy_dict(self, policy: Policy) -> dict[str, dict[str, int]]:
        return policy.to_dict()

    def _always_excluded(self) -> set[str]:
        return {"objective", "layers"}

    def _nullable(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "energy_mj": self.energy_mj, "episode": self.episode}

    def figures(self) -> dict[str, Any]:
        """Accuracy and totals only (the uniform 8-bit baseline of a policy file)."""
        return {"latency_ms": self.latency_ms, "energy_mj": self.energy_mj, "size_mb": self.size_mb, "accuracy": self.accuracy}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluatedPolicy:
        return cls.model_validate(data)


class SearchProgress(Record):
    """Reported after each episode (``episode`` is the number finished so far)."""

    episode: int
    episodes: int
    best_accuracy: float
    best_latency_ms: float | None
    best_energy_mj: float | None
    reward: float | None
    accuracy: float
    elapsed_s: float
    latency_ms: float | None = None
    energy_mj: float | None = None
    evaluations: int = 0
    eval_seconds: float = 0.0


class FinetuneResult(Record):
    """The quantization-aware fine-tune of the best policy, before and after."""

    accuracy_before: float
    accuracy_after: float
    steps: int
    defensive: bool = False
    beta: float | None = None  # orthogonality penalty strength (defensive only)
    robust_accuracy_before: float | None = None  # when the spec has a robust block
    robust_accuracy_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
