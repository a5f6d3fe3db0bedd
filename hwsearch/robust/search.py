"""Robust accuracy inside a search: one evaluator per ``SearchContext``, cached per policy.

It reuses the context's ``QuantizedModel`` (policy switch = pointer swap) and attacks
the first ``robust.samples`` validation images with a generator seeded by the spec's
seed, so a policy always gets the same robust accuracy (the cache and resumed searches
rely on it). Nothing here runs unless the spec has a ``robust`` block; with one, only
the stored policies are attacked unless a constraint or a reward weight asks for more.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from hwsearch.core.policy import Policy


class RobustConstraintError(ValueError):
    """No evaluated policy reached ``robust.min_accuracy`` (``field`` names it, like SpecError)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"robust.min_accuracy: {message}")
        self.field = "robust.min_accuracy"
        self.message = message


class RobustEvaluator:
    def __init__(self, ctx) -> None:
        cfg = ctx.spec.robust
        self.ctx = ctx
        self.config = cfg
        self.attack = cfg.attack_config(ctx.spec.seed)
        self.split = ctx.dataset.val.head(cfg.samples)
        self.weight = cfg.weight
        self.min_accuracy = cfg.min_accuracy
        self.cache: dict[Policy, tuple[float, float]] = {}  # policy -> (robust, clean) on the subset
        self.seconds = 0.0
        self._float: tuple[float, float] | None = None
        self.best_seen: tuple[float, Policy] | None = None  # highest robust accuracy measured

    @property
    def every_episode(self) -> bool:
        return self.weight > 0

    def measure_model(self, model) -> tuple[float, float]:
        """(robust accuracy, clean accuracy) of any model on the attacked subset (not cached)."""
        from hwsearch.evaluate import accuracy
        from hwsearch.robust.attacks import robust_accuracy

        start = time.perf_counter()
        threads = torch.get_num_threads()
        if threads != self.ctx.eval_threads:
            torch.set_num_threads(self.ctx.eval_threads)
        try:
            value = (robust_accuracy(model, self.split, self.attack), accuracy(model, self.split))
        finally:
            if threads != self.ctx.eval_threads:
                torch.set_num_threads(threads)
        self.seconds += time.perf_counter() - start
        return value

    def measure(self, policy: Policy) -> tuple[float, float]:
        """(robust accuracy, clean accuracy) of ``policy`` on the attacked subset (cached)."""
        hit = self.cache.get(policy)
        if hit is None:
            self.ctx.qmodel.set_policy(policy)
            hit = self.cache[policy] = self.measure_model(self.ctx.qmodel)
            if self.best_seen is None or hit[0] > self.best_seen[0]:
                self.best_seen = (hit[0], policy)
        return hit

    def accuracy(self, policy: Policy) -> float:
        return self.measure(policy)[0]

    def float_accuracy(self) -> tuple[float, float]:
        if self._float is None:
            self._float = self.measure_model(self.ctx.model)
        return self._float

    def reward_term(self, robust: float) -> float:
        """HAQ-style: ``lambda * weight * 100 * (robust - robust_float)``."""
        return self.ctx.reward_lambda * 100.0 * self.weight * (robust - self.float_accuracy()[0])

    def better(self, a, a_obj: float, b, b_obj: float) -> bool:
        """``a`` replaces the best ``b``: by accuracy (+ weight x robust), and only if admissible."""
        if b is not None:
            if self.weight > 0:
                sa = a.accuracy + self.weight * self.accuracy(a.policy)
                sb = b.accuracy + self.weight * self.accuracy(b.policy)
            else:
                sa, sb = a.accuracy, b.accuracy
            if not (sa > sb or (sa == sb and a_obj < b_obj - 1e-12)):
                return False
        return self.min_accuracy is None or self.accuracy(a.policy) >= self.min_accuracy

    def attach(self, evaluated):
        robust, clean = self.measure(evaluated.policy)
        return dataclasses.replace(evaluated, robust_accuracy=robust, robust_clean_accuracy=clean)

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
