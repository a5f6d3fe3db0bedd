"""The search: env contract, budget enforcement, agents, resume, policy file, CLI.

Everything runs on digits-cnn (6 layers, 8x8 inputs) on bismo-edge, a few episodes each.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from agents import AGENT_NAMES, agent_class, get_agent
from hwsearch.core.choice_ilp import solve_choices
from hwsearch.env import MixedPrecisionEnv
from hwsearch.core.policy import Policy
from hwsearch.policy_file import PolicyFileError, read_policy_file, write_policy_file
from hwsearch.search import (
    SearchProblem,
    SearchSpec,
    SpecError,
    build_costing,
    build_problem,
    run_search,
    spec_from_dict,
    validate_spec,
)

BASE = {"model": "digits-cnn", "target": "bismo-edge", "budget": {"relative": 0.3}, "eval_samples": 200}


def spec(**overrides) -> SearchSpec:
    return spec_from_dict({**BASE, **overrides})


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def ctx() -> SearchProblem:
    return build_problem(spec(agent="random", episodes=5))


def _objective(ctx, record) -> float:
    return ctx.policy_costs(Policy.from_dict(record.policy)).objective


# ---- environment ------------------------------------------------------------------
@pytest.mark.parametrize("action", ["box", "discrete"])
@pytest.mark.parametrize("decisions", ["separate", "joint"])
def test_env_passes_gymnasium_and_sb3_checkers(ctx, action, decisions):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = MixedPrecisionEnv(ctx, action=action, decisions=decisions)
    gym_check(env, skip_render_check=True)
    sb3_check(env, warn=True)
    per_layer = 2 if decisions == "separate" else 1
    assert env.steps_per_episode == per_layer * ctx.n_layers


def test_env_episode_ends_feasible_with_info(ctx):
    env = MixedPrecisionEnv(ctx)
    env.reset(seed=0)
    done, steps, info = False, 0, {}
    while not done:  # all widest: far over a 0.3 x int8 budget, so it must be fitted
        obs, reward, done, truncated, info = env.step(np.array([1.0], dtype=np.float32))
        assert env.observation_space.contains(obs)
        steps += 1
    assert steps == env.steps_per_episode
    assert info["fitted"] is True
    policy = Policy.from_dict(info["policy"])
    assert ctx.policy_costs(policy).objective <= ctx.budget * (1 + 1e-9)
    assert info["latency_ms"] == pytest.approx(ctx.policy_costs(policy).latency_ms)
    assert 0.0 <= info["accuracy"] <= 1.0
    assert reward == pytest.approx(0.1 * 100 * (info["accuracy"] - ctx.float_accuracy))


@pytest.mark.parametrize("decisions", ["separate", "joint"])
def test_env_trajectory_is_the_episode_that_picks_that_policy(ctx, decisions):
    env = MixedPrecisionEnv(ctx, decisions=decisions)
    rng = np.random.default_rng(3)
    w = rng.integers(0, env.n_widths[0], ctx.n_layers)
    a = w.copy() if decisions == "joint" else rng.integers(0, env.n_widths[1], ctx.n_layers)
    env.reset(seed=0)
    env.step(np.array([0.9], dtype=np.float32))  # mid-episode: trajectory must leave this state alone
    state = (env._t, env._w.copy(), env._a.copy(), env._prev)
    obs, picks, counts = env.trajectory(w, a)
    assert (env._t, env._prev) == (state[0], state[3]) and (env._w == state[1]).all() and (env._a == state[2]).all()
    assert obs.shape == (env.steps_per_episode, env.observation_space.shape[0])
    seen = [env.reset(seed=0)[0]]
    for k, (index, n) in enumerate(zip(picks, counts)):  # stepping the bin centres replays the same observations
        next_obs, _, done, _, info = env.step(np.array([(index + 0.5) / n], dtype=np.float32))
        np.testing.assert_allclose(seen[k], obs[k], atol=1e-6)
        seen.append(next_obs)
    assert done and env.problem.to_index(Policy.from_dict(info["policy"]))[0].tolist() == ctx.fit(w, a)[0].tolist()


def test_fitted_episode_is_learned_as_the_policy_that_was_measured(ctx):
    from agents.rl import EpisodeRewardBuffer

    env = MixedPrecisionEnv(ctx, fitted_trajectory=True)
    buffers = {
        flag: EpisodeRewardBuffer(100, env.observation_space, env.action_space, device="cpu", learn_from_fitted=flag)
        for flag in (True, False)
    }
    obs, _ = env.reset(seed=0)
    done = False
    while not done:  # all widest: over budget, so the fit lowers it
        action = np.array([1.0], dtype=np.float32)
        next_obs, reward, done, _, info = env.step(action)
        for buffer in buffers.values():  # SB3 stores Box actions scaled to [-1, 1]
            buffer.add(obs[None], next_obs[None], action[None] * 2 - 1, np.array([reward]), np.array([done]), [info])
        obs = next_obs
    n = env.steps_per_episode
    assert info["fitted"] and all(b.size() == n for b in buffers.values())
    fw, fa = ctx.to_index(Policy.from_dict(info["policy"]))
    want_obs, want_index, _ = env.trajectory(fw, fa)
    stored = buffers[True]
    picked = [env.to_index((x + 1) / 2, step % 2 == 0) for step, x in enumerate(stored.actions[:n, 0, 0])]
    assert picked == want_index.tolist() and picked != [env.n_widths[0] - 1] * n
    np.testing.assert_allclose(stored.observations[:n, 0], want_obs)
    assert (buffers[False].actions[:n] == 1.0).all()  # off: the proposal as it was
    assert (stored.rewards[:n] == np.float32(reward)).all()


def test_fit_always_meets_the_budget_and_only_lowers(ctx):
    rng = np.random.default_rng(1)
    nb = len(ctx.bits)
    for _ in range(200):
        w, a = rng.integers(0, nb, ctx.n_layers), rng.integers(0, nb, ctx.n_layers)
        fw, fa = ctx.fit(w, a)
        assert ctx.fits(fw, fa)
        assert (fw <= w).all() and (fa <= a).all()
        if ctx.fits(w, a):
            assert (fw == w).all() and (fa == a).all()


def test_accuracy_is_cached(ctx):
    policy = Policy.uniform(ctx.names, 5, 6)
    before = ctx.scorer.stats.evaluations
    first = ctx.accuracy(policy)
    second = ctx.accuracy(Policy.uniform(ctx.names, 5, 6))
    assert first == second
    assert ctx.scorer.stats.evaluations == before + 1


# ---- spec validation --------------------------------------------------------------
def test_impossible_budget_is_refused_with_a_clear_message():
    with pytest.raises(SpecError) as info:
        validate_spec(spec(budget={"relative": 0.05}))
    assert info.value.field == "budget"
    assert "no policy can meet" in str(info.value) and "cheapest" in str(info.value)
    with pytest.raises(SpecError):
        run_search(spec(budget={"relative": 0.05}))
    costing = build_costing(spec())
    lowest = costing.min_objective
    validate_spec(spec(budget={"absolute": lowest * 1.001}))  # just reachable
    with pytest.raises(SpecError, match="budget"):
        validate_spec(spec(budget={"absolute": lowest * 0.99}))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"model": "no-such-model"}, "model"),
        ({"target": "no-such-target"}, "target"),
        ({"agent": "no-such-agent"}, "agent"),
        ({"min_bits": 1}, "min_bits"),
        ({"min_bits": 6, "max_bits": 4}, "min_bits"),
        ({"objective": "speed"}, "objective"),
        ({"budget": {"relative": 0.4, "absolute": 1.0}}, "budget"),
        ({"budget": {"relative": -1}}, "budget.relative"),
        ({"objective": "latency:0.5,energy:0.5", "budget": {"absolute": 1.0}}, "budget"),
        ({"model": "mobilenet-v2"}, "data"),
    ],
)
def test_spec_errors_name_the_field(overrides, field):
    with pytest.raises(SpecError) as info:
        validate_spec({**BASE, **overrides})
    assert info.value.field == field, str(info.value)
    assert isinstance(info.value, ValueError)


def test_energy_objective_refused_without_energy_tables():
    with pytest.raises(SpecError) as info:
        validate_spec({**BASE, "model": "mobilenet-v2", "data": "digits", "target": "haq-mobilenetv2", "objective": "energy"})
    assert info.value.field == "objective" and "energy" in str(info.value)


def test_mixed_objective_is_unitless():
    costing = build_costing(spec(objective="latency:0.7,energy:0.3", budget={"relative": 0.5}))
    assert costing.int8_objective == pytest.approx(1.0)
    assert costing.budget == pytest.approx(0.5)
    assert SearchSpec.model_validate_json(spec().model_dump_json()) == spec()


# ---- agents -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["uniform", "random", "greedy", "ilp", "evolution"])
def test_each_baseline_returns_a_feasible_policy(ctx, name):
    result = run_search(spec(agent=name, episodes=6, seed=1))
    assert result.history, name
    assert len(result.history) <= 6
    ctx_budget = build_costing(result.spec).budget
    for record in result.history:
        assert _objective(ctx, record) <= ctx_budget * (1 + 1e-9)
    assert _objective(ctx, result.history[result.best.episode - 1]) <= ctx_budget * (1 + 1e-9)
    assert result.best.accuracy == max(r.accuracy for r in result.history)
    assert result.evaluations >= len({r.policy for r in result.history})


@pytest.mark.parametrize("name", ["ddpg", "td3", "sac", "ppo"])
def test_rl_agents_run_feasible_episodes(ctx, name, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SB3's default logger would make a folder
    seen = []
    result = run_search(spec(agent=name, episodes=5), progress=seen.append, agent_options={"net_arch": [32, 32]})
    assert [p.episode for p in seen] == [1, 2, 3, 4, 5]
    assert all(b.best_accuracy >= a.best_accuracy for a, b in zip(seen, seen[1:]))
    assert len(result.history) == 5
    for record in result.history:
        assert _objective(ctx, record) <= result.budget * (1 + 1e-9)
    assert list(tmp_path.glob("SB3-*")) == []  # no empty SB3-<date> folder left behind per search


@pytest.mark.parametrize(("action", "sigma"), [(0.9, 0.5), (-0.3, 0.1), (0.0, 0.02)])
def test_truncated_normal_noise_is_the_truncated_normal(action, sigma):
    from scipy.stats import truncnorm

    from agents.rl import TruncatedNormalNoise

    noise = TruncatedNormalNoise(sigma, seed=0)
    low, high = -np.ones(20_000), np.ones(20_000)
    draws = noise.perturb(np.full(20_000, action), low, high)
    assert draws.min() >= -1 and draws.max() <= 1
    scale = sigma * 2  # sigma is in units of the action range
    a, b = (low[0] - action) / scale, (high[0] - action) / scale
    want_mean, want_sd = truncnorm.mean(a, b, loc=action, scale=scale), truncnorm.std(a, b, loc=action, scale=scale)
    assert draws.mean() == pytest.approx(want_mean, abs=4 * want_sd / np.sqrt(draws.size))
    assert draws.std() == pytest.approx(want_sd, rel=0.03)


def test_sparse_noise_perturbs_its_share_of_the_steps_and_keeps_the_rest():
    from agents.rl import TruncatedNormalNoise

    noise = TruncatedNormalNoise(0.5, seed=0, share=0.25)
    ones = np.ones(3)
    draws = np.array([noise.perturb(np.full(3, 0.3), -ones, ones) for _ in range(4000)])
    moved = np.any(draws != 0.3, axis=1)  # a step is perturbed whole or kept whole
    assert np.all(np.all(draws != 0.3, axis=1) == moved)
    assert moved.mean() == pytest.approx(0.25, abs=0.03)


def test_ddpg_perturbs_noise_decisions_per_episode_and_td3_every_one(ctx):
    from agents import get_agent
    from hwsearch.env import MixedPrecisionEnv

    env = MixedPrecisionEnv(ctx)
    shares = {}
    for name, options in [("ddpg", {}), ("ddpg", {"noise_decisions": None}), ("ddpg", {"noise_decisions": 100}), ("td3", {})]:
        model = get_agent(name, net_arch=[8], **options).make(env, episodes=10, seed=0)
        shares[(name, str(options))] = model.action_noise.share
    assert list(shares.values()) == [pytest.approx(4 / env.steps_per_episode), 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="noise_decisions"):
        get_agent("ddpg", noise_decisions=0)


def test_off_policy_updates_per_step():
    from agents import get_agent

    env = MixedPrecisionEnv(build_problem(spec(agent="ddpg", episodes=3)))
    for share, steps in ((1.0, env.steps_per_episode), (0.5, round(0.5 * env.steps_per_episode))):
        assert get_agent("ddpg", updates_per_step=share).make(env, 3, 0).gradient_steps == steps
    with pytest.raises(SpecError, match="updates_per_step must be > 0"):
        run_search(spec(agent="ddpg", episodes=3), agent_options={"updates_per_step": 0})


def _buffer_with_episodes(rewards: list[float], steps: int = 3):
    from gymnasium import spaces

    from agents.rl import EpisodeRewardBuffer

    buffer = EpisodeRewardBuffer(
        100, spaces.Box(0, 1, (2,), np.float32), spaces.Box(0, 1, (1,), np.float32), device="cpu"
    )
    obs = np.zeros((1, 2), np.float32)
    for episode, reward in enumerate(rewards):
        for t in range(steps):
            last = t == steps - 1
            action = np.full((1, 1), episode, np.float32)  # tells the episode apart in samples
            buffer.add(obs, obs, action, np.array([reward if last else 0.0]), np.array([last]), [{}])
    return buffer


def test_episode_buffer_gives_every_step_the_final_reward_and_one_baseline_per_batch():
    import torch

    buffer = _buffer_with_episodes([1.0, 3.0, 3.0])
    assert buffer.size() == 9
    assert sorted(buffer.rewards[:9, 0].tolist()) == [1.0] * 3 + [3.0] * 6  # raw final rewards, every step
    torch.manual_seed(0)
    np.random.seed(0)
    for i in range(3):
        batch = buffer.sample(64)
        rewards, episode = batch.rewards.numpy().ravel(), batch.actions.numpy().ravel()
        if i == 0:  # the first batch's mean is the baseline
            assert rewards.mean() == pytest.approx(0.0, abs=1e-6)
        # one offset for the whole batch: equal final rewards stay equal, order is kept
        np.testing.assert_allclose(rewards + buffer.baseline, np.where(episode == 0, 1.0, 3.0), rtol=1e-6)
    raw = _buffer_with_episodes([1.0, 3.0, 3.0])
    raw.use_baseline = False
    assert set(raw.sample(64).rewards.numpy().ravel().tolist()) == {1.0, 3.0} and raw.baseline is None


def test_ddpg_actor_learns_slower_than_its_critic_as_in_haq():
    env = MixedPrecisionEnv(build_problem(spec(agent="ddpg", episodes=3)))
    model = get_agent("ddpg", net_arch=[16, 16], warmup_episodes=1).make(env, 3, 0)
    model.learn(total_timesteps=3 * env.steps_per_episode)
    assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert model.critic.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert model.buffer_size == 2000  # the whole search kept by default
    assert get_agent("ddpg", buffer_episodes=4).make(env, 3, 0).buffer_size == 4 * env.steps_per_episode
    with pytest.raises(SpecError, match="actor_learning_rate must be > 0"):
        run_search(spec(agent="ddpg", episodes=3), agent_options={"actor_learning_rate": 0})


@pytest.mark.parametrize("name", [n for n in AGENT_NAMES if not agent_class(n).seeded])
def test_agents_marked_unseeded_give_one_search_for_every_seed(name):
    runs = [run_search(spec(agent=name, episodes=4, seed=seed)) for seed in (0, 7)]
    assert [r.policy for r in runs[0].history] == [r.policy for r in runs[1].history]
    assert runs[0].best.policy == runs[1].best.policy


def test_registry_lists_every_agent():
    for name in AGENT_NAMES:
        assert get_agent(name).name == name
    with pytest.raises(ValueError, match="unknown agent"):
        get_agent("nope")


def test_ilp_is_exact_for_the_additive_model():
    rng = np.random.default_rng(0)
    predicted = rng.random((5, 4))
    cost = rng.random((5, 4))
    budget = float(np.sort(cost, axis=1)[:, :2].mean(axis=1).sum())
    best = min(
        (sum(predicted[i, c] for i, c in enumerate(combo)), combo)
        for combo in itertools.product(range(4), repeat=5)
        if sum(cost[i, c] for i, c in enumerate(combo)) <= budget
    )
    chosen = solve_choices(predicted, cost, budget)
    assert predicted[np.arange(5), chosen].sum() == pytest.approx(best[0])
    second = solve_choices(predicted, cost, budget, exclude=[chosen])
    assert not (second == chosen).all()
    assert predicted[np.arange(5), second].sum() >= best[0] - 1e-12


# ---- determinism, cancel, resume ---------------------------------------------------
def _comparable(result) -> dict:
    d = result.to_dict()
    d.pop("wall_time_s")
    d.pop("eval_seconds")
    return d


@pytest.mark.parametrize("agent", ["ddpg", "evolution"])
def test_resumed_search_equals_uninterrupted(tmp_path, agent):
    s = spec(agent=agent, episodes=10, seed=3)
    options = {"net_arch": [32, 32], "warmup_episodes": 2} if agent == "ddpg" else {}
    full = run_search(s, agent_options=options)
    stops = iter(range(100))
    cancelled = run_search(s, should_stop=lambda: next(stops) >= 3, checkpoint_dir=tmp_path, agent_options=options)
    assert cancelled.cancelled and len(cancelled.history) == 4
    from hwsearch.search import FileCheckpointStore
    from hwsearch.search.checkpoint import load_checkpoint

    entries = FileCheckpointStore(tmp_path).read()
    # a header, one entry per episode, one for the end: each holds only what is new
    assert [e["kind"] for e in entries] == ["header"] + ["episode"] * 4 + ["end"]
    assert all(len(e["history"]) == 1 for e in entries[1:-1])
    assert len(load_checkpoint(FileCheckpointStore(tmp_path), s.model_dump(mode="json"))["history"]) == 4
    resumed = run_search(s, checkpoint_dir=tmp_path, agent_options=options)
    assert not resumed.cancelled
    assert _comparable(resumed) == _comparable(full)
    again = run_search(s, agent_options=options)
    assert _comparable(again) == _comparable(full)


def test_checkpoint_of_another_spec_is_refused(tmp_path):
    from hwsearch.search import CheckpointError

    run_search(spec(agent="random", episodes=2), checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="another spec"):
        run_search(spec(agent="random", episodes=3), checkpoint_dir=tmp_path)


def test_a_killed_write_leaves_the_checkpoint_resumable(tmp_path):
    """A kill in the middle of an append leaves a torn last line: it is dropped, the rest resumes."""
    s = spec(agent="random", episodes=6, seed=1)
    full = run_search(s)
    stops = iter(range(100))
    run_search(s, should_stop=lambda: next(stops) >= 2, checkpoint_dir=tmp_path)
    path = tmp_path / "checkpoint.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # the end entry, torn
    resumed = run_search(s, checkpoint_dir=tmp_path)
    assert _comparable(resumed) == _comparable(full)


def test_a_version_1_checkpoint_still_resumes(tmp_path):
    """Checkpoints written before the append-only format (one JSON file) resume, then continue as lines."""
    from hwsearch.search import FileCheckpointStore
    from hwsearch.search.checkpoint import load_checkpoint

    s = spec(agent="random", episodes=6, seed=1)
    full = run_search(s)
    stops = iter(range(100))
    run_search(s, should_stop=lambda: next(stops) >= 2, checkpoint_dir=tmp_path)
    state = load_checkpoint(FileCheckpointStore(tmp_path), s.model_dump(mode="json"))
    (tmp_path / "checkpoint.jsonl").unlink()
    (tmp_path / "checkpoint.json").write_text(json.dumps({"version": 1, "spec": s.model_dump(mode="json"), **state}))
    resumed = run_search(s, checkpoint_dir=tmp_path)
    assert _comparable(resumed) == _comparable(full)
    assert not (tmp_path / "checkpoint.json").exists() and (tmp_path / "checkpoint.jsonl").exists()


def test_cancel_before_the_first_episode_ends_cleanly():
    result = run_search(spec(agent="random", episodes=5), should_stop=lambda: True)
    assert result.cancelled and len(result.history) == 1


def test_cancel_is_honoured_inside_the_fine_tune():
    """A fine-tune of a million steps stops within a step of the cancel; the best policy stays."""
    calls = iter(range(10**9))
    result = run_search(spec(agent="random", episodes=3, finetune_steps=10**6), should_stop=lambda: next(calls) >= 4)
    assert result.cancelled and result.finetune is None and result.finetuned_weights is None
    assert len(result.history) == 3 and result.best.accuracy > 0
    assert next(calls) < 10  # polled once per step: stopped at the first steps, not after a million


# ---- policy file and CLI -----------------------------------------------------------
def test_policy_file_round_trips(tmp_path):

    s = spec(agent="greedy", episodes=2, finetune_steps=5)
    result = run_search(s)
    assert result.finetune is not None and result.finetune.steps == 5
    costing = build_costing(s)
    doc = result.policy_document()
    path = write_policy_file(tmp_path / "policy.json", doc)
    loaded, policy = read_policy_file(path)
    assert loaded == json.loads(json.dumps(doc))
    assert policy == result.best.policy
    assert [layer["name"] for layer in loaded["layers"]] == costing.names
    assert loaded["totals"]["latency_ms"] == pytest.approx(sum(layer["latency_ms"] for layer in loaded["layers"]))
    assert loaded["totals"]["latency_ms"] == pytest.approx(result.best.latency_ms)
    assert SearchSpec.model_validate(loaded["spec"]) == s
    broken = json.loads(path.read_text())
    broken["layers"][1]["weight_bits"] = 11
    (tmp_path / "bad.json").write_text(json.dumps(broken))
    with pytest.raises(PolicyFileError, match="weight_bits"):
        read_policy_file(tmp_path / "bad.json")
    del broken["totals"]["size_mb"]
    with pytest.raises(PolicyFileError, match="totals.size_mb"):
        write_policy_file(tmp_path / "bad2.json", broken)


@pytest.mark.parametrize("agent", ["random", "ddpg", "ilp"])
def test_max_bits_below_8_keeps_every_stored_policy_within_the_widths(agent):
    """The int8 baseline is costed on the target's full grid, not the search's: a search
    limited to 5 bits ends (it used to fail after its last episode) and stores no 8-bit point."""
    result = run_search(spec(agent=agent, episodes=8, max_bits=5))
    for point in [result.best, *result.pareto]:
        assert all(b["weight_bits"] <= 5 and b["activation_bits"] <= 5 for b in point.policy.to_dict().values())
    base = result.baseline_int8
    assert all(b == {"weight_bits": 8, "activation_bits": 8} for b in base.policy.to_dict().values())
    assert base.latency_ms > result.best.latency_ms and base.objective == pytest.approx(base.latency_ms)


def test_cli_search_max_bits_5_writes_its_policy(tmp_path):
    from typer.testing import CliRunner

    from hwsearch.cli import app

    out = tmp_path / "p.json"
    args = ["search", "--model", "digits-cnn", "--target", "bismo-edge", "--budget", "0.5", "--agent", "random",
            "--episodes", "3", "--eval-samples", "200", "--max-bits", "5", "--out", str(out)]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    doc, _ = read_policy_file(out)
    assert max(max(layer["weight_bits"], layer["activation_bits"]) for layer in doc["layers"]) <= 5
    assert doc["baseline_int8"]["latency_ms"] > doc["totals"]["latency_ms"]


def test_cli_search_writes_policy_and_refuses_cleanly(tmp_path):
    from typer.testing import CliRunner

    from hwsearch.cli import app

    out = tmp_path / "p.json"
    args = ["search", "--model", "digits-cnn", "--target", "bismo-edge", "--budget", "0.3", "--agent", "uniform",
            "--episodes", "3", "--eval-samples", "200", "--out", str(out)]
    ok = CliRunner().invoke(app, args)
    assert ok.exit_code == 0, ok.output
    doc, policy = read_policy_file(out)
    assert doc["schema"] == "hwsearch.policy/v1" and len(policy) == 6
    assert "confirmed: the best" in ok.output and doc["search"]["confirm_samples"] == 16  # 216 validation images
    assert 0 < doc["search"]["confirmed_accuracy"] <= 1
    assert doc["search"]["episodes"] < 3 and f"ended after {doc['search']['episodes']} of 3 episodes" in ok.output
    bad = CliRunner().invoke(app, [*args[:5], "--budget", "0.01", *args[7:]])
    assert bad.exit_code == 2
    assert "no policy can meet" in bad.output and "Traceback" not in bad.output
