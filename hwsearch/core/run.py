"""``SearchRun``: one run of an agent on a problem, and the callbacks that watch it.

Agents propose candidates through ``run.propose(w, a)`` and stop once ``run.stopped``
is true. Each proposal is one *episode*: the problem scores it, the run numbers it and
hands it to its callbacks in order, in the manner of stable-baselines3's
``BaseCallback``; a callback that returns False stops the search. What a run does
besides (track the best, report progress, poll for cancellation, checkpoint) is a
callback, so a plain ``SearchRun(problem)`` is all a Gymnasium user needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from hwsearch.core.problem import SearchProblem
from hwsearch.core.records import EvaluatedPolicy


class Cancelled(Exception):
    """Raised from inside long work (a fine-tune, an attack) once the run's stop is requested,
    so a cancel is honoured within a step or a batch, not only between episodes."""


def cancel_check(should_stop: Callable[[], bool] | None) -> Callable[[], None]:
    """A check to call often from long loops: raises ``Cancelled`` when ``should_stop()`` says so."""

    def check() -> None:
        if should_stop is not None and should_stop():
            raise Cancelled

    return check


class SearchCallback:
    """Base class of the run's hooks; override what you need."""

    run: SearchRun

    def init_callback(self, run: SearchRun) -> None:
        self.run = run

    def on_episode(self, record: EvaluatedPolicy) -> bool:
        """After each episode; return False to stop the search."""
        return True

    def on_search_end(self) -> None:
        """After the agent returned (before the result is assembled)."""


class SearchRun:
    """The episodes of one search, its stop flag and its callbacks.

    ``episodes`` caps the proposals (None: the agent decides). ``replay_until`` is the
    number of leading episodes a resumed search replays from its checkpoint: they are
    not news, and callbacks that report or poll skip them (``replaying``).
    """

    def __init__(
        self, problem: SearchProblem, episodes: int | None = None, callbacks: Iterable[SearchCallback] = ()
    ) -> None:
        self.problem = problem
        self.episodes = episodes
        self.history: list[EvaluatedPolicy] = []
        self.stopped = False
        self.cancelled = False
        self.replay_until = 0
        self.prior_elapsed_s = 0.0
        #: move a proposal this run already measured to an unmeasured neighbour (``fresh``)
        self.fresh_proposals = False
        self.moved = 0  # proposals moved so
        #: policies the closing confirmation measures whatever their rank (an agent's cheap starts)
        self.confirm_also: set = set()
        self._start = time.perf_counter()
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.init_callback(self)

    @property
    def replaying(self) -> bool:
        return len(self.history) <= self.replay_until

    def elapsed(self) -> float:
        return self.prior_elapsed_s + time.perf_counter() - self._start

    def propose(self, w: np.ndarray, a: np.ndarray) -> EvaluatedPolicy:
        """One episode: score the candidate, record it, and let the callbacks see it."""
        if self.fresh_proposals:
            w, a = self.fresh(w, a)
        record = self.problem.score(w, a).model_copy(update={"episode": len(self.history) + 1})
        self.history.append(record)
        if self.episodes is not None and record.episode >= self.episodes:
            self.stopped = True
        for callback in self.callbacks:
            if callback.on_episode(record) is False:
                self.stopped = True
        return record

    def fresh(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(w, a)`` fitted to the budget, or, if this run already measured that policy, the
        unmeasured one-step neighbour (one layer's weight or activation width one step up or
        down) that fits the budget and spends most of it: an episode is never spent on a
        policy already known. Deterministic, so a resumed run replays it. Unchanged if every
        neighbour was measured."""
        w, a = self.problem.fit(w, a)
        seen = {record.policy for record in self.history}
        if self.problem.to_policy(w, a) not in seen:
            return w, a
        top_w, top_a = self.problem.top
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for kind, top in ((0, top_w), (1, top_a)):
            for layer in range(len(w)):
                for step in (1, -1):
                    cand = [w.copy(), a.copy()]
                    cand[kind][layer] += step
                    if not 0 <= cand[kind][layer] <= top or not self.problem.fits(*cand):
                        continue
                    if self.problem.to_policy(*cand) in seen:
                        continue
                    cost = self.problem.objective(*cand)
                    if best is None or cost > best[0]:
                        best = (cost, cand[0], cand[1])
        if best is None:
            return w, a
        self.moved += 1
        return best[1], best[2]

    def end(self) -> None:
        """The agent is done: callbacks finish (e.g. a robust search with no admissible policy fails)."""
        for callback in self.callbacks:
            callback.on_search_end()
