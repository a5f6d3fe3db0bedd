"""``SearchProblem``: what every agent searches, whatever the model and the hardware.

A problem is the costing (cost grid, budget, ``fit``), a scorer that measures a
policy's accuracy, and HAQ's reward. It knows no model class, data set or cost table:
the builder in ``hwsearch.search`` plugs those in, so agents and the env depend on this
module alone. The model and data set ride along (``model``, ``dataset``) for the steps
after the search that need them (confirmation, fine-tune).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from hwsearch.core.costing import Costing, Costs
from hwsearch.core.policy import Policy
from hwsearch.core.records import EvaluatedPolicy

REWARD_LAMBDA = 0.1  # HAQ


class Scorer(Protocol):
    """Measures a policy's accuracy (0..1); equal policies must score equal (caches rely on it)."""

    float_accuracy: float

    def accuracy(self, policy: Policy) -> float: ...


#: An extra reward term of a policy (e.g. robust accuracy), added to HAQ's.
RewardTerm = Callable[[Policy], float]


class SearchProblem:
    """The costing and the scorer of one search, and the reward that joins them."""

    def __init__(self, costing: Costing, scorer: Scorer, model: Any = None, dataset: Any = None) -> None:
        self.costing = costing
        self.scorer = scorer
        self.model = model
        self.dataset = dataset
        self.reward_lambda = REWARD_LAMBDA
        self.reward_terms: list[RewardTerm] = []

    # ---- the costing, as agents and the env read it --------------------------------
    spec = property(lambda self: self.costing.spec)
    specs = property(lambda self: self.costing.specs)
    target = property(lambda self: self.costing.target)
    names = property(lambda self: self.costing.names)
    bits = property(lambda self: self.costing.bits)
    weight_bits = property(lambda self: self.costing.weight_bits)
    activation_bits = property(lambda self: self.costing.activation_bits)
    top = property(lambda self: self.costing.top)
    budget = property(lambda self: self.costing.budget)
    unit = property(lambda self: self.costing.unit)
    int8 = property(lambda self: self.costing.int8)
    objective_grid = property(lambda self: self.costing.objective_grid)
    n_layers = property(lambda self: self.costing.n_layers)

    def fit(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.costing.fit(w, a)

    def fits(self, w: np.ndarray, a: np.ndarray) -> bool:
        return self.costing.fits(w, a)

    def objective(self, w: np.ndarray, a: np.ndarray) -> float:
        return self.costing.objective(w, a)

    def costs(self, w: np.ndarray, a: np.ndarray) -> Costs:
        return self.costing.costs(w, a)

    def policy_costs(self, policy: Policy) -> Costs:
        return self.costing.policy_costs(policy)

    def to_policy(self, w: np.ndarray, a: np.ndarray) -> Policy:
        return self.costing.to_policy(w, a)

    def to_index(self, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        return self.costing.to_index(policy)

    def uniform(self, w_index: int, a_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.costing.uniform(w_index, a_index)

    # ---- accuracy and reward ------------------------------------------------------
    @property
    def float_accuracy(self) -> float:
        return self.scorer.float_accuracy

    def accuracy(self, policy: Policy) -> float:
        """Accuracy of ``policy`` (0..1; the scorer caches it)."""
        return self.scorer.accuracy(policy)

    def accuracy_of(self, w: np.ndarray, a: np.ndarray) -> float:
        return self.accuracy(self.to_policy(w, a))

    def reward(self, accuracy: float, policy: Policy) -> float:
        """HAQ's reward, ``lambda * (acc - acc_float)`` in percentage points, plus the extra
        terms. Cost enters only through ``fit``: the budget is a hard constraint."""
        reward = self.reward_lambda * 100.0 * (accuracy - self.float_accuracy)
        for term in self.reward_terms:
            reward += term(policy)
        return reward

    def evaluated(self, policy: Policy, accuracy: float, costs: Costs, **fields: Any) -> EvaluatedPolicy:
        """The record of ``policy`` with these figures."""
        return EvaluatedPolicy(
            policy=policy, accuracy=accuracy, latency_ms=costs.latency_ms, energy_mj=costs.energy_mj,
            size_mb=costs.size_mb, objective=costs.objective, **fields,
        )

    def score(self, w: np.ndarray, a: np.ndarray) -> EvaluatedPolicy:
        """Fit ``(w, a)`` to the budget, measure it and compute its reward (no episode number)."""
        w, a = self.fit(w, a)
        policy = self.to_policy(w, a)
        acc = self.accuracy(policy)
        return self.evaluated(policy, acc, self.costs(w, a), reward=self.reward(acc, policy))
