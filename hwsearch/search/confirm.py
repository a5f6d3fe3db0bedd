"""Confirming the best policy on validation images the search did not use.

A search keeps the policy with the highest accuracy on its validation subset: the maximum
of hundreds of noisy measurements (at 2,000 images one measurement of an 87% policy has a
standard error of 0.75 points), so the winner is partly the luckiest draw, and the more
distinct policies a search tries, the more its answer is luck (the winner's curse). After
the search, the ``confirm_top`` best distinct episode policies are measured once more on
the next ``confirm_samples`` validation images (disjoint from the search's subset), and
the best is the one with the highest accuracy on both subsets together. An agent may name
episodes to confirm besides (``SearchRun.confirm_also``: DDPG's cheap starts), so that
its answer is never below theirs on both subsets.

Measured on the stored runs of docs/benchmarks.md (fashion-mobilenet, 0.25 x int8): DDPG's
chosen policy gained 0.7 points on the test split on average, greedy's did not move.
Robust searches are not confirmed (their best is chosen on robust accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hwsearch.core.policy import Policy
from hwsearch.core.problem import SearchProblem
from hwsearch.core.records import EvaluatedPolicy


@dataclass(frozen=True)
class Candidate:
    """One confirmed policy: accuracy on the search's subset, on the confirmation images,
    and on both together (weighted by their sizes)."""

    policy: Policy
    episode: int
    accuracy: float
    confirm_accuracy: float
    pooled_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "episode": self.episode,
            "accuracy": self.accuracy,
            "confirm_accuracy": self.confirm_accuracy,
            "pooled_accuracy": self.pooled_accuracy,
        }


@dataclass(frozen=True)
class Confirmation:
    """What confirmation measured; ``candidates[chosen]`` is the search's answer."""

    samples: int  # confirmation images
    search_samples: int  # images of the search's own subset
    candidates: list[Candidate]
    chosen: int

    @property
    def best(self) -> Candidate:
        return self.candidates[self.chosen]

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "search_samples": self.search_samples,
            "chosen": self.chosen,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def top_candidates(ranked: list[tuple[Policy, float, float, int]], top: int) -> list[tuple[Policy, float, float, int]]:
    """The ``top`` best distinct policies of ``(policy, accuracy, objective, episode)`` rows:
    higher accuracy first, then cheaper, then earlier (the order the search keeps its best by)."""
    first: dict[Policy, tuple[Policy, float, float, int]] = {}
    for row in ranked:
        first.setdefault(row[0], row)
    return sorted(first.values(), key=lambda r: (-r[1], r[2], r[3]))[:top]


def confirm(
    rows: list[tuple[Policy, float, float, int]],
    measure: Callable[[Policy], float],
    top: int,
    search_samples: int,
    samples: int,
    also: Iterable[Policy] = (),
) -> Confirmation | None:
    """Re-measure the ``top`` best of ``rows`` with ``measure`` (accuracy on ``samples``
    confirmation images) and choose on both subsets; None if there is nothing to confirm.
    ``also``: policies of ``rows`` confirmed whatever their rank, after the top ones (a
    search's cheap starts: the answer is then never below theirs on both subsets)."""
    best = top_candidates(rows, top)
    if top < 1 or samples < 1 or not best:
        return None
    pinned = set(also) - {row[0] for row in best}
    best += top_candidates([row for row in rows if row[0] in pinned], len(pinned))
    candidates = []
    for policy, acc, _, episode in best:
        extra = measure(policy)
        pooled = (search_samples * acc + samples * extra) / (search_samples + samples)
        candidates.append(Candidate(policy, episode, acc, extra, pooled))
    chosen = max(range(len(candidates)), key=lambda i: (candidates[i].pooled_accuracy, -i))  # ties: the higher-ranked
    return Confirmation(samples, search_samples, candidates, chosen)


def confirm_history(
    problem: SearchProblem, history: list[EvaluatedPolicy], also: Iterable[Policy] = ()
) -> tuple[EvaluatedPolicy, dict[str, Any]] | None:
    """Confirm a search from its episodes alone (what ``run_search`` does at the end, and
    what a benchmark can do to a stored result): the confirmed best and the record of it,
    or None when the problem has no confirmation images or the spec turns confirmation off.
    ``also``: episode policies confirmed besides the top ones (``SearchRun.confirm_also``).
    ``problem.scorer`` must be an ``AccuracyScorer`` (it holds the confirmation images)."""
    scorer = problem.scorer
    rows = [(rec.policy, rec.accuracy, problem.policy_costs(rec.policy).objective, rec.episode) for rec in history]
    done = confirm(
        rows, scorer.confirm_accuracy, problem.spec.confirm_top, len(scorer.eval_split), len(scorer.confirm_split), also
    )
    if done is None:
        return None
    chosen = done.best
    best = problem.evaluated(
        chosen.policy, chosen.accuracy, problem.policy_costs(chosen.policy), episode=chosen.episode,
        confirmed_accuracy=chosen.pooled_accuracy,
    )
    return best, done.to_dict()
