"""Cheap starts (``agents.cheap_starts``, DDPG's ``cheap_starts``): a learning search's first
episodes are the uniform and fisher searches' answers, so its best is never below theirs,
and the stall that ends learning counts from them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agents import get_agent
from agents.cheap_starts import propose_cheap_starts
from agents.rl import StopWhenDone
from hwsearch.core.run import SearchRun
from hwsearch.search import build_problem, run_search, spec_from_dict
from hwsearch.search.problem import SpecError, validate_spec

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "eval_samples": 200}
OPTIONS = {"net_arch": [32, 32], "warmup_episodes": 2}

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _policies(agent: str, episodes: int, **options) -> list:
    return [r.policy for r in run_search({**BASE, "agent": agent, "episodes": episodes, "seed": 0}, agent_options=options).history]


def test_ddpg_begins_with_the_uniform_then_the_fisher_answers_and_is_never_below_them():
    uniform = _policies("uniform", 10)
    fisher = run_search({**BASE, "agent": "fisher", "episodes": 10, "seed": 0}).history
    result = run_search({**BASE, "agent": "ddpg", "episodes": 60, "seed": 0}, agent_options=OPTIONS)
    starts = [r.policy for r in result.history[:6]]  # a tenth of 60 episodes
    assert 0 < len(uniform) < 6
    assert starts == uniform + [r.policy for r in fisher[: 6 - len(uniform)]]
    assert result.best.accuracy >= max(r.accuracy for r in fisher[: 6 - len(uniform)])


def test_the_starts_are_capped_by_the_option_and_zero_turns_them_off():
    answers = _policies("uniform", 10) + _policies("fisher", 10)
    two = _policies("ddpg", 60, cheap_starts=2, **OPTIONS)
    assert two[:2] == answers[:2] and two[2] != answers[2]
    off = _policies("ddpg", 60, cheap_starts=0, **OPTIONS)
    assert off[:6] != answers[:6]  # the warm-up's random draws come first


def test_without_a_model_only_the_uniform_policies_are_proposed():
    problem = build_problem(spec_from_dict({**BASE, "agent": "ddpg", "episodes": 20}))
    problem.model = None  # a problem priced and scored from elsewhere: no gradients to take
    records = propose_cheap_starts(SearchRun(problem, episodes=20), 5, seed=0)
    assert [r.policy for r in records] == _policies("uniform", 10)


def test_the_stall_counts_from_the_best_start():
    env = SimpleNamespace(last_outcome=None)
    prior = [SimpleNamespace(accuracy=0.7), SimpleNamespace(accuracy=0.9)]
    watch = StopWhenDone(SimpleNamespace(stopped=False), env, patience=2, prior=prior)
    assert watch.best == 1
    going = []
    for acc in (0.8, 0.85):
        env.last_outcome = SimpleNamespace(accuracy=acc)
        watch.locals = {"dones": [True]}
        going.append(watch._on_step())
    assert going == [True, False] and watch.stalled and watch.best == 1 and len(watch.outcomes) == 4


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_a_bad_cheap_starts_is_refused(value):
    with pytest.raises(ValueError, match="cheap_starts"):
        get_agent("ddpg", cheap_starts=value)


def test_the_option_is_ddpgs_by_default_and_reaches_the_agent_from_a_spec():
    assert [get_agent(name).cheap_starts for name in ("ddpg", "td3", "sac", "ppo")] == [8, 0, 0, 0]
    assert get_agent("ddpg", cheap_starts=3.0).cheap_starts == 3
    with pytest.raises(SpecError, match="cheap_starts") as refused:
        validate_spec({**BASE, "agent": "ddpg", "episodes": 5, "agent_options": {"cheap_starts": -1}})
    assert refused.value.field == "agent_options"


def test_a_start_equal_to_an_earlier_one_spends_no_episode():
    from agents.cheap_starts import _Capped

    problem = build_problem(spec_from_dict({**BASE, "agent": "ddpg", "episodes": 20}))
    run = SearchRun(problem, episodes=20)
    capped = _Capped(run, 3)
    w, a = problem.uniform(1)
    first = capped.propose(w, a)
    assert capped.propose(w, a) is first and len(run.history) == 1 and not capped.stopped
