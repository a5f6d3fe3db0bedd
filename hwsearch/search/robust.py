"""Robust accuracy inside a search: one evaluator per ``SearchProblem``, cached per policy.

It reuses the scorer's ``QuantizedModel`` (policy switch = pointer swap) and attacks
the first ``robust.samples`` validation images with a generator seeded by the spec's
seed, so a policy always gets the same robust accuracy (the cache and resumed searches
rely on it). Nothing here runs unless the spec has a ``robust`` block; with one, only
the stored policies are attacked unless a constraint or a reward weight asks for more.
"""

from __future__ import annotations

import time

import torch

from hwsearch.core.policy import Policy
from hwsearch.core.problem import SearchProblem
from hwsearch.core.records import EvaluatedPolicy
from hwsearch.evaluate import accuracy
from hwsearch.robust.attacks import attack_of, robust_accuracy


class RobustConstraintError(ValueError):
    """No evaluated policy reached ``robust.min_accuracy`` (``field`` names it, like SpecError)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"robust.min_accuracy: {message}")
        self.field = "robust.min_accuracy"
        self.message = message


class RobustEvaluator:
    """Robust accuracy of the problem's policies under the spec's attack (cached)."""

    def __init__(self, problem: SearchProblem) -> None:
        cfg = problem.spec.robust
        self.problem = problem
        self.config = cfg
        self.attack = attack_of(cfg, problem.spec.seed)
        self.split = problem.dataset.val.head(cfg.samples)
        self.weight = cfg.weight
        self.min_accuracy = cfg.min_accuracy
        self.cache: dict[Policy, tuple[float, float]] = {}  # policy -> (robust, clean) on the subset
        self.seconds = 0.0
        self._float: tuple[float, float] | None = None
        self.best_seen: tuple[float, Policy] | None = None  # highest robust accuracy measured
        self.check: Callable[[], None] | None = None  # the run's cancel check, run before each attacked batch

    @property
    def every_episode(self) -> bool:
        return self.weight > 0

    def measure_model(self, model) -> tuple[float, float]:
        """(robust accuracy, clean accuracy) of any model on the attacked subset (not cached)."""
        start = time.perf_counter()
        threads = torch.get_num_threads()
        if threads != self.problem.scorer.eval_threads:
            torch.set_num_threads(self.problem.scorer.eval_threads)
        try:
            value = (robust_accuracy(model, self.split, self.attack, self.check), accuracy(model, self.split))
        finally:
            if threads != self.problem.scorer.eval_threads:
                torch.set_num_threads(threads)
        self.seconds += time.perf_counter() - start
        return value

    def measure(self, policy: Policy) -> tuple[float, float]:
        """(robust accuracy, clean accuracy) of ``policy`` on the attacked subset (cached)."""
        hit = self.cache.get(policy)
        if hit is None:
            self.problem.scorer.qmodel.set_policy(policy)
            hit = self.cache[policy] = self.measure_model(self.problem.scorer.qmodel)
            if self.best_seen is None or hit[0] > self.best_seen[0]:
                self.best_seen = (hit[0], policy)
        return hit

    def accuracy(self, policy: Policy) -> float:
        return self.measure(policy)[0]

    def float_accuracy(self) -> tuple[float, float]:
        if self._float is None:
            self._float = self.measure_model(self.problem.model)
        return self._float

    def reward_term(self, robust: float) -> float:
        """HAQ-style: ``lambda * weight * 100 * (robust - robust_float)``."""
        return self.problem.reward_lambda * 100.0 * self.weight * (robust - self.float_accuracy()[0])

    def reward_of(self, policy: Policy) -> float:
        """The reward term of ``policy`` (a ``SearchProblem.reward_terms`` entry)."""
        return self.reward_term(self.accuracy(policy))

    def better(self, a: EvaluatedPolicy, b: EvaluatedPolicy | None) -> bool:
        """``a`` replaces the best ``b``: by accuracy (+ weight x robust), and only if admissible."""
        if b is not None:
            if self.weight > 0:
                sa = a.accuracy + self.weight * self.accuracy(a.policy)
                sb = b.accuracy + self.weight * self.accuracy(b.policy)
            else:
                sa, sb = a.accuracy, b.accuracy
            if not (sa > sb or (sa == sb and a.objective < b.objective - 1e-12)):
                return False
        return self.min_accuracy is None or self.accuracy(a.policy) >= self.min_accuracy

    def attach(self, evaluated: EvaluatedPolicy) -> EvaluatedPolicy:
        robust, clean = self.measure(evaluated.policy)
        return evaluated.model_copy(update={"robust_accuracy": robust, "robust_clean_accuracy": clean})

    def fail(self, evaluations: int) -> RobustConstraintError:
        seen = len(self.cache)
        top = f"; the most robust of them reached {self.best_seen[0]:.4f}" if self.best_seen else ""
        return RobustConstraintError(
            f"no policy reached robust accuracy {self.min_accuracy:g} under {self.attack.describe()} "
            f"({seen} of {evaluations} evaluated policies attacked{top}); lower the constraint or eps, "
            "raise the budget, or ask for a defensive fine-tune"
        )

    def summary(self) -> dict:
        """Settings and cost: the part of a policy file's ``robustness`` block shared by all its policies."""
        fl_robust, fl_clean = self.float_accuracy()
        return {
            "attack": self.attack.kind,
            **{k: v for k, v in self.attack.to_dict().items() if k != "kind"},
            "samples": len(self.split),
            "split": "val",
            "float_accuracy": fl_robust,
            "float_clean_accuracy": fl_clean,
            "min_accuracy": self.min_accuracy,
            "weight": self.weight,
            "evaluations": len(self.cache),
            "seconds": self.seconds,
        }
