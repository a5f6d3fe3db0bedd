"""The hill climb that ends a stalled DDPG search (``agents.refine``, ``climb_after_stall``):
learning stops after a run of episodes without a new best, the climb proposes feasible
trades of one width around the incumbent, only new policies, and a resume inside the
climb replays it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agents import get_agent
from agents.refine import neighbour
from agents.rl import StopWhenDone
from hwsearch.core.policy import Policy
from hwsearch.search import SearchProblem, build_problem, run_search, spec_from_dict

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "eval_samples": 200}
EPISODES = 12
OPTIONS = {"net_arch": [32, 32], "warmup_episodes": 2, "climb_after_stall": 0.25}  # 3 episodes without a new best
PATIENCE = 3

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def ctx() -> SearchProblem:
    return build_problem(spec_from_dict({**BASE, "agent": "random", "episodes": 5}))


def _raised(ctx: SearchProblem, policy: dict, incumbent: dict) -> list[int]:
    """How many widths each decision of ``policy`` stands above ``incumbent`` (raised ones only)."""
    w, a = ctx.to_index(Policy.from_dict(policy))
    iw, ia = ctx.to_index(Policy.from_dict(incumbent))
    diff = np.concatenate([w - iw, a - ia])
    return [int(d) for d in diff if d > 0]


def _stall_end(accuracies: list[float], patience: int) -> int | None:
    """Episodes done when ``patience`` episodes in a row first brought no new best (None: never)."""
    best = 0
    for k, acc in enumerate(accuracies):
        if acc > accuracies[best]:
            best = k
        if k - best >= patience:
            return k + 1
    return None


def _watch(accuracies: list[float], patience: int | None) -> tuple[StopWhenDone, list[bool]]:
    """Feed finished episodes of these accuracies to the callback; what it answered after each."""
    env = SimpleNamespace(last_outcome=None)
    watch = StopWhenDone(SimpleNamespace(stopped=False), env, patience=patience)
    answers = []
    for acc in accuracies:
        watch.locals = {"dones": [False]}  # a step inside an episode records nothing
        answers.append(watch._on_step())
        env.last_outcome = SimpleNamespace(accuracy=acc)
        watch.locals = {"dones": [True]}
        answers.append(watch._on_step())
    return watch, answers[1::2]


def test_learning_stops_after_patience_episodes_without_a_new_best():
    watch, going = _watch([0.5, 0.6, 0.6, 0.55], patience=2)  # an equal accuracy is not a new best
    assert going == [True, True, True, False]
    assert watch.stalled and watch.best == 1 and len(watch.outcomes) == 4


def test_learning_goes_on_while_bests_keep_coming_or_without_patience():
    watch, going = _watch([0.5, 0.4, 0.6, 0.5, 0.7, 0.6, 0.8], patience=2)
    assert all(going) and not watch.stalled and watch.best == 6
    watch, going = _watch([0.9, 0.1, 0.1, 0.1, 0.1], patience=None)
    assert all(going) and not watch.stalled


def test_climb_starts_at_the_stall_and_explores_new_neighbours_of_the_incumbent(ctx):
    result = run_search({**BASE, "agent": "ddpg", "episodes": EPISODES, "seed": 2}, agent_options=OPTIONS)
    history = result.history
    start = _stall_end([r.accuracy for r in history], PATIENCE)
    assert start is not None and start < len(history)  # the seed stalls, and the climb proposed something
    assert len(history) <= EPISODES
    for k in range(start, len(history)):
        before = history[:k]
        incumbent = max(before, key=lambda r: r.accuracy)  # max keeps the first of equals, as the climb does
        record = history[k]
        assert record.policy not in {r.policy for r in before}, k
        assert _raised(ctx, record.policy, incumbent.policy) in ([], [1]), k
        assert ctx.policy_costs(Policy.from_dict(record.policy)).objective <= result.budget * (1 + 1e-9)
    assert result.best.accuracy >= max(r.accuracy for r in history[:start])


def test_without_the_option_ddpg_learns_to_the_end():
    options = {**OPTIONS, "climb_after_stall": None}
    result = run_search({**BASE, "agent": "ddpg", "episodes": EPISODES, "seed": 2}, agent_options=options)
    assert len(result.history) == EPISODES
    climbing = run_search({**BASE, "agent": "ddpg", "episodes": EPISODES, "seed": 2}, agent_options=OPTIONS)
    start = _stall_end([r.accuracy for r in climbing.history], PATIENCE)
    # the same episodes up to the stall, then the two part ways
    assert [r.policy for r in result.history[:start]] == [r.policy for r in climbing.history[:start]]
    assert [r.policy for r in result.history[start:]] != [r.policy for r in climbing.history[start:]]


def test_resume_inside_the_climb_equals_an_uninterrupted_search(tmp_path):
    body = {**BASE, "agent": "ddpg", "episodes": EPISODES, "seed": 2}
    full = run_search(body, agent_options=OPTIONS).to_dict()
    start = _stall_end([r["accuracy"] for r in full["history"]], PATIENCE)
    assert start is not None and start + 2 <= len(full["history"])
    stops = iter(range(100))
    cut = run_search(body, should_stop=lambda: next(stops) >= start + 1, checkpoint_dir=tmp_path, agent_options=OPTIONS)
    assert cut.cancelled and len(cut.history) == start + 2  # stopped two episodes into the climb
    resumed = run_search(body, checkpoint_dir=tmp_path, agent_options=OPTIONS).to_dict()
    for d in (full, resumed):
        d.pop("wall_time_s"), d.pop("eval_seconds")
    assert resumed == full


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_climb_after_stall_out_of_range_is_refused(share):
    with pytest.raises(ValueError, match="climb_after_stall"):
        get_agent("ddpg", climb_after_stall=share)


def test_only_ddpg_climbs_by_default():
    """DDPG, the default agent, ends with the climb; TD3, SAC and PPO stay as published."""
    assert [get_agent(name).climb_after_stall for name in ("ddpg", "td3", "sac", "ppo")] == [0.5, None, None, None]
    assert get_agent("ddpg").climb_restarts and not get_agent("ddpg", climb_restarts=False).climb_restarts


RESTART_BASE = {**BASE, "budget": {"relative": 0.45}, "min_bits": 3, "max_bits": 4}  # 4,096 policies
RESTART_OPTIONS = {**OPTIONS, "climb_after_stall": 0.1}


@pytest.mark.parametrize("restarts", [False, True])
def test_a_climb_at_a_local_optimum_ends_the_search_or_restarts_and_spends_every_episode(restarts):
    """In a small space the climb soon measures every neighbour of its incumbent: without
    restarts the search ends there; with them it starts again and uses all its episodes,
    every one on a policy not measured before."""
    body = {**RESTART_BASE, "agent": "ddpg", "episodes": 60, "seed": 0}
    result = run_search(body, agent_options={**RESTART_OPTIONS, "climb_restarts": restarts})
    history = result.history
    start = _stall_end([r.accuracy for r in history], round(0.1 * 60))
    assert start is not None
    if not restarts:
        assert len(history) < 60
        return
    assert len(history) == 60
    for k in range(start, len(history)):
        assert history[k].policy not in {r.policy for r in history[:k]}, k


def test_a_restart_begins_at_the_most_accurate_policy_not_yet_a_start():
    from agents.refine import next_start

    records = [SimpleNamespace(policy=p, accuracy=acc) for p, acc in [("a", 0.5), ("b", 0.9), ("c", 0.7), ("d", 0.9)]]
    run = SimpleNamespace(history=records)
    assert next_start(run, set()) == ("b", 0.9)  # the first of equals
    assert next_start(run, {"b"}) == ("d", 0.9)
    assert next_start(run, {"b", "d"}) == ("c", 0.7)
    assert next_start(run, {"a", "b", "c", "d"}) is None
