"""The callbacks ``run_search`` puts on a ``SearchRun``, one job each.

Order matters and is the runner's: the best is tracked first, then cancellation is
polled, then the checkpoint is written (``hwsearch.search.checkpoint``; it holds the
best), then progress is reported (it shows the best).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hwsearch.core.records import EvaluatedPolicy, SearchProgress
from hwsearch.core.run import SearchCallback
from hwsearch.search.robust import RobustEvaluator


class BestTracker(SearchCallback):
    """Keeps the best episode: higher accuracy wins; ties go to the cheaper, then the earlier."""

    #: whether the best is re-measured on unused validation images at the end
    confirms = True

    def __init__(self) -> None:
        self.best: EvaluatedPolicy | None = None

    def better(self, a: EvaluatedPolicy, b: EvaluatedPolicy | None) -> bool:
        if b is None:
            return True
        return a.accuracy > b.accuracy or (a.accuracy == b.accuracy and a.objective < b.objective - 1e-12)

    def on_episode(self, record: EvaluatedPolicy) -> bool:
        if self.better(record, self.best):
            self.best = record
        return True

    def annotate(self, record: EvaluatedPolicy) -> EvaluatedPolicy:
        """A stored policy as the result shows it (the robust selection adds robust accuracy)."""
        return record

    def summary(self) -> dict[str, Any] | None:
        """The result's ``robustness`` block (None: not a robust search)."""
        return None


class RobustSelection(BestTracker):
    """The best under a ``robust`` block: admissible (``min_accuracy``) and ranked with the
    robust accuracy's weight; every stored policy carries its robust accuracy."""

    confirms = False  # the best is chosen on robust accuracy, not on clean accuracy alone

    def __init__(self, evaluator: RobustEvaluator) -> None:
        super().__init__()
        self.evaluator = evaluator

    def better(self, a: EvaluatedPolicy, b: EvaluatedPolicy | None) -> bool:
        return self.evaluator.better(a, b)

    def on_search_end(self) -> None:
        if self.best is None and not self.run.cancelled and self.run.history:
            raise self.evaluator.fail(len(self.run.problem.scorer.cache))

    def annotate(self, record: EvaluatedPolicy) -> EvaluatedPolicy:
        return self.evaluator.attach(record)

    def summary(self) -> dict[str, Any] | None:
        return self.evaluator.summary()


class CancelPoll(SearchCallback):
    """Stops the search (``cancelled``) when ``should_stop()`` says so; not while replaying."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop

    def on_episode(self, record: EvaluatedPolicy) -> bool:
        if self.run.stopped or self.run.replaying or not self.should_stop():
            return True
        self.run.cancelled = True
        return False


class ProgressReport(SearchCallback):
    """Calls ``report`` after each new episode (and once where a resumed search picks up)."""

    def __init__(self, report: Callable[[SearchProgress], None], tracker: BestTracker) -> None:
        self.report, self.tracker = report, tracker

    def on_episode(self, record: EvaluatedPolicy) -> bool:
        run = self.run
        n = record.episode
        if run.replaying and n != run.replay_until:
            return True
        best = self.tracker.best
        scorer = run.problem.scorer
        self.report(
            SearchProgress(
                episode=n,
                episodes=run.episodes,
                best_accuracy=best.accuracy,
                best_latency_ms=best.latency_ms,
                best_energy_mj=best.energy_mj,
                reward=record.reward,
                accuracy=record.accuracy,
                elapsed_s=run.elapsed(),
                latency_ms=record.latency_ms,
                energy_mj=record.energy_mj,
                evaluations=len(scorer.cache),
                eval_seconds=scorer.stats.eval_seconds,
            )
        )
        return True
