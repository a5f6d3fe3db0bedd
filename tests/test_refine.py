"""The local refinement that ends a DDPG search (``agents.refine``): feasible trades of one
width around the incumbent, only new policies, and a resume inside the climb replays it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents import get_agent
from agents.refine import neighbour
from hwsearch.policy import Policy
from hwsearch.search import SearchContext, run_search, spec_from_dict

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "eval_samples": 200}
OPTIONS = {"net_arch": [32, 32], "warmup_episodes": 2, "refine": 0.5}

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def ctx() -> SearchContext:
    return SearchContext(spec_from_dict({**BASE, "agent": "random", "episodes": 5}))


def _raised(ctx: SearchContext, policy: dict, incumbent: dict) -> list[int]:
    """How many widths each decision of ``policy`` stands above ``incumbent`` (raised ones only)."""
    w, a = ctx.to_index(Policy.from_dict(policy))
    iw, ia = ctx.to_index(Policy.from_dict(incumbent))
    diff = np.concatenate([w - iw, a - ia])
    return [int(d) for d in diff if d > 0]


def test_neighbour_fits_and_trades_at_most_one_width_up(ctx):
    rng = np.random.default_rng(0)
    start = ctx.fit(rng.integers(0, len(ctx.bits), ctx.n_layers), rng.integers(0, len(ctx.bits), ctx.n_layers))
    moved = 0
    for _ in range(50):
        w, a = neighbour(ctx, *start, rng)
        assert ctx.fits(w, a)
        raised = _raised(ctx, ctx.to_policy(w, a).to_dict(), ctx.to_policy(*start).to_dict())
        assert raised in ([], [1])
        moved += ctx.to_policy(w, a) != ctx.to_policy(*start)
    assert moved > 25  # most draws are real moves, not the start again


def test_climb_explores_new_neighbours_of_the_incumbent(ctx):
    episodes = 12
    result = run_search({**BASE, "agent": "ddpg", "episodes": episodes, "seed": 2}, agent_options=OPTIONS)
    history = result.history
    assert len(history) == episodes
    climb = episodes - round(OPTIONS["refine"] * episodes)
    for k in range(climb, episodes):
        before = history[:k]
        incumbent = max(before, key=lambda r: r.accuracy)  # max keeps the first of equals, as the climb does
        record = history[k]
        assert json.dumps(record.policy) not in {json.dumps(r.policy) for r in before}, k
        assert _raised(ctx, record.policy, incumbent.policy) in ([], [1]), k
        assert ctx.policy_costs(Policy.from_dict(record.policy)).objective <= result.budget * (1 + 1e-9)
    assert result.best.accuracy >= max(r.accuracy for r in history[:climb])


def test_resume_inside_the_climb_equals_an_uninterrupted_search(tmp_path):
    body = {**BASE, "agent": "ddpg", "episodes": 10, "seed": 3}
    full = run_search(body, agent_options=OPTIONS).to_dict()
    stops = iter(range(100))
    cut = run_search(body, should_stop=lambda: next(stops) >= 6, checkpoint_dir=tmp_path, agent_options=OPTIONS)
    assert cut.cancelled and len(cut.history) == 7  # stopped two episodes into the climb
    resumed = run_search(body, checkpoint_dir=tmp_path, agent_options=OPTIONS).to_dict()
    for d in (full, resumed):
        d.pop("wall_time_s"), d.pop("eval_seconds")
    assert resumed == full


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_refine_share_out_of_range_is_refused(share):
    with pytest.raises(ValueError, match="refine"):
        get_agent("ddpg", refine=share)


def test_no_agent_climbs_by_default():
    """The benchmark's stored runs are without the climb (HAQ has none): defaults must stay so."""
    assert [get_agent(name).refine for name in ("ddpg", "td3", "sac", "ppo")] == [0.0] * 4
