"""A repeated proposal moves to an unmeasured neighbour (``SearchRun.fresh``), when asked."""

from __future__ import annotations

import numpy as np
import pytest

from hwsearch.core.run import SearchRun
from hwsearch.search import build_problem, run_search

SPEC = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.6}, "agent": "ddpg", "episodes": 30, "seed": 0,
        "eval_samples": 200, "min_bits": 3, "max_bits": 5}


@pytest.fixture(scope="module")
def problem():
    return build_problem(SPEC)


def _differs_by_one_step(p, q, names) -> bool:
    steps = [abs(p[n].weight_bits - q[n].weight_bits) + abs(p[n].activation_bits - q[n].activation_bits) for n in names]
    return sorted(steps)[-1] == 1 and sum(steps) == 1


def test_a_repeat_is_moved_to_an_unmeasured_neighbour_within_the_budget(problem):
    run = SearchRun(problem)
    run.fresh_proposals = True
    w, a = problem.uniform(1)
    first = run.propose(w, a)
    second = run.propose(w, a)  # the same proposal again
    assert second.policy != first.policy and run.moved == 1
    assert _differs_by_one_step(first.policy, second.policy, problem.names)
    assert problem.fits(*problem.to_index(second.policy))
    # of the neighbours that fit, the one that spends most of the budget
    third = run.propose(w, a)
    assert third.policy not in {first.policy, second.policy} and run.moved == 2
    assert problem.costing.objective(*problem.to_index(second.policy)) >= problem.costing.objective(*problem.to_index(third.policy))


def test_without_the_option_a_repeat_is_measured_again(problem):
    run = SearchRun(problem)
    w, a = problem.uniform(1)
    assert run.propose(w, a).policy == run.propose(w, a).policy and run.moved == 0


def test_with_every_neighbour_measured_the_repeat_stays(problem):
    run = SearchRun(problem)
    w, a = problem.fit(*problem.uniform(1))
    for kind in (0, 1):
        for layer in range(len(w)):
            for step in (1, -1):
                cand = [w.copy(), a.copy()]
                cand[kind][layer] += step
                if 0 <= cand[kind][layer] <= problem.top[kind] and problem.fits(*cand):
                    run.propose(*cand)
    run.propose(w, a)
    run.fresh_proposals = True
    assert run.propose(w, a).policy == problem.to_policy(w, a) and run.moved == 0


def test_a_ddpg_search_with_fresh_proposals_never_repeats_a_policy():
    # no cheap starts: the learning part is what repeats itself
    plain = run_search({**SPEC, "agent_options": {"cheap_starts": 0}})
    fresh = run_search({**SPEC, "agent_options": {"fresh_proposals": True, "cheap_starts": 0}})
    distinct = lambda result: len({p.policy for p in result.history})  # noqa: E731
    assert distinct(fresh) == len(fresh.history)
    assert distinct(plain) < len(plain.history)  # the repeats it would otherwise spend episodes on
    assert np.isfinite(fresh.best.accuracy)
