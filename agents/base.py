"""The one interface every search agent implements.

An agent gets a ``SearchRun`` and proposes candidate policies through
``run.propose(w, a)`` (index arrays into ``run.problem.weight_bits`` and ``activation_bits``, one entry per layer). Each
call is one *episode*: the problem fits the candidate to the budget, measures its
accuracy (cached), computes the reward, and the run hands it to its callbacks, which
record it and set ``run.stopped`` when the episode budget is used up or the user
cancels. An agent must

- stop proposing as soon as ``run.stopped`` is true (and may stop earlier, e.g. the
  uniform baseline after its few candidates);
- be deterministic given ``seed`` and the accuracies it observes (resuming relies on it);
- draw randomness only from generators seeded from ``seed``;
- never branch on the scorer's cache (on resume it already holds later evaluations): keep
  its own record of what it has seen.

Extra evaluations an agent needs that are not candidates (sensitivity probes) go through
``problem.accuracy`` / ``problem.accuracy_of`` directly: they are cached and counted in
``SearchResult.evaluations``, but are not episodes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from hwsearch.core.run import SearchRun


class Agent(ABC):
    """A search strategy. Subclasses set ``name`` and implement ``search``."""

    name: ClassVar[str] = "?"
    #: One line for listings (``hwsearch search --help``, the API).
    description: ClassVar[str] = ""
    #: False for agents that draw no randomness: every seed gives the same search, so a
    #: benchmark runs them once.
    seeded: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        if options:
            raise ValueError(f"agent {self.name!r} has no options {sorted(options)}")

    @abstractmethod
    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        """Propose up to ``episodes`` candidates with ``run.propose`` until ``run.stopped``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
