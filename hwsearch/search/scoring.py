"""``AccuracyScorer``: a policy's top-1 accuracy on the search's validation subset, cached.

The quantized copy of the model is calibrated once on the fixed calibration split, so a
policy scores the same for every seed, and switching policy is a pointer swap. A policy
that shares its first layers' bits with a kept one can run only the rest of the network
(``hwsearch.quant.reuse``; the same numbers as a full pass; off by default, see PREFIX_REUSE). The
validation split is cut in two: the first ``eval_samples`` images score every candidate,
the rest (``confirm_samples`` of them) re-measure the top few at the end
(``hwsearch.search.confirm``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from hwsearch.core.policy import Policy
from hwsearch.core.spec import SearchSpec
from hwsearch.data import Dataset, Split
from hwsearch.evaluate import EVAL_BATCH, accuracy
from hwsearch.core.device import model_device
from hwsearch.quant import QuantizedModel
from hwsearch.quant.reuse import PrefixReuse


#: Off by default: on the 53-layer fashion-mobilenetv2 it scored at a full pass's cost
#: (2.1 s against 2.04 s per policy), so it buys nothing yet; benchmarks/prefix_reuse.py turns it on.
PREFIX_REUSE = False


@dataclass
class EvalStats:
    evaluations: int = 0
    cache_hits: int = 0
    eval_seconds: float = 0.0


class AccuracyScorer:
    """Accuracy of policies of one model on one data set (see the module docstring)."""

    def __init__(self, spec: SearchSpec, model: nn.Module, dataset: Dataset, bits: list[int]) -> None:
        self.model = model
        self.eval_split = dataset.val.head(spec.eval_samples) if spec.eval_samples else dataset.val
        rest = Split(dataset.val.x[len(self.eval_split) :], dataset.val.y[len(self.eval_split) :])
        self.confirm_split = rest.head(spec.confirm_samples) if spec.confirm_samples else rest  # may be empty
        torch.manual_seed(spec.seed)
        self.qmodel = QuantizedModel(model, dataset.calib.x)  # fixed calibration: a policy scores the same for every seed
        self.qmodel.precompute(sorted(set(bits) | {8}))
        self.float_accuracy = accuracy(model, self.eval_split)
        device = model_device(self.qmodel)
        self.eval_batches = [
            (self.eval_split.x[i : i + EVAL_BATCH].to(device), self.eval_split.y[i : i + EVAL_BATCH])
            for i in range(0, len(self.eval_split), EVAL_BATCH)
        ]
        self.reuse = PrefixReuse.build(self.qmodel, [x for x, _ in self.eval_batches]) if PREFIX_REUSE else None
        self._best_scored = -1.0
        self.cache: dict[Policy, float] = {}
        self.order: list[Policy] = []  # evaluation order (for the Pareto front and checkpoints)
        self.confirm_cache: dict[Policy, float] = {}
        self.stats = EvalStats()
        # evaluation keeps the threads it was built with, whatever an agent sets for its own networks
        self.eval_threads = torch.get_num_threads()

    def measure(self, model: nn.Module, split: Split | None) -> float:
        """Accuracy of ``model`` on ``split`` with the scorer's threads (timed, not cached);
        ``split`` None: the quantized model's current policy on the search's subset."""
        start = time.perf_counter()
        threads = torch.get_num_threads()
        if threads != self.eval_threads:
            torch.set_num_threads(self.eval_threads)
        try:
            return accuracy(model, split) if split is not None else self._eval_subset_accuracy()
        finally:
            if threads != self.eval_threads:
                torch.set_num_threads(threads)
            self.stats.eval_seconds += time.perf_counter() - start

    def _eval_subset_accuracy(self) -> float:
        if self.reuse is None:
            return accuracy(self.qmodel, self.eval_split)
        logits = self.reuse.logits(self.qmodel.policy)
        correct = sum(int((out.argmax(dim=1).cpu() == y).sum()) for out, (_, y) in zip(logits, self.eval_batches))
        value = correct / len(self.eval_split)
        if value > self._best_scored:  # a new incumbent: what a climb varies next
            self._best_scored = value
            self.reuse.keep_last()
        return value

    def accuracy(self, policy: Policy) -> float:
        """Top-1 accuracy (0..1) of ``policy`` on the fixed validation subset (cached)."""
        hit = self.cache.get(policy)
        if hit is not None:
            self.stats.cache_hits += 1
            return hit
        self.qmodel.set_policy(policy)
        value = self.measure(self.qmodel, None)
        self.stats.evaluations += 1
        self.cache[policy] = value
        self.order.append(policy)
        return value

    def confirm_accuracy(self, policy: Policy) -> float:
        """Accuracy of ``policy`` on the confirmation images (cached)."""
        hit = self.confirm_cache.get(policy)
        if hit is None:
            self.qmodel.set_policy(policy)
            hit = self.confirm_cache[policy] = self.measure(self.qmodel, self.confirm_split)
        return hit

    def uncached_accuracy(self, policy: Policy) -> float:
        """Accuracy of ``policy`` without entering the cache (reference points that are not
        part of the search: they must not change its evaluation count or checkpoint)."""
        hit = self.cache.get(policy)
        if hit is not None:
            return hit
        self.qmodel.set_policy(policy)
        return self.measure(self.qmodel, None)

    def preload(self, entries: list[tuple[Policy, float]]) -> None:
        """Restore cached accuracies (from a checkpoint), in their evaluation order."""
        for policy, value in entries:
            if policy not in self.cache:
                self.cache[policy] = value
                self.order.append(policy)

    @property
    def evaluations(self) -> int:
        """Distinct policies measured, on either subset."""
        return len(self.cache) + len(self.confirm_cache)
