"""The part all stable-baselines3 agents share, and HAQ's DDPG recipe pieces.

HAQ's recipe (Wang et al. 2019, section 3 and their reference code's defaults):

- **warm-up**: the first ``warmup_episodes`` (20) episodes take uniformly random actions
  (SB3's ``learning_starts``, counted in steps = episodes x steps per episode);
- **exploration**: after warm-up the action is drawn from a normal distribution around
  the actor's output, *truncated* to the action range [0, 1] (``TruncatedNormalNoise``;
  SB3's own noise is added then clipped, which piles mass on the bounds, hence the
  ``_sample_action`` override below). Sigma starts at 0.5 and decays per episode by 0.99
  in HAQ, by 0.995 here (``DEFAULT_SIGMA_DECAY``): at 300 episodes HAQ's rate leaves
  sigma at 0.03 and the search stops exploring early (see docs/benchmarks.md). HAQ
  perturbs every decision of an episode; our DDPG perturbs about ``noise_decisions`` (4)
  of them and takes the actor's own action at the rest (``TruncatedNormalNoise.share``),
  a departure explained below;
- **episode reward, with a baseline**: HAQ stores every transition of an episode with the
  episode's final reward, and subtracts a moving average of the sampled batches' mean
  reward when it trains (``EpisodeRewardBuffer``). The critic learns
  Q(s, a) = E[final reward | s, a] (up to that common offset), so ``gamma`` is 0 (no bootstrap);
- **learning rates**: the actor learns 10x slower than the critic (HAQ: 1e-4 and 1e-3,
  ``HaqDDPG``), so it follows a critic that has had time to fit.

An option that departs from HAQ, off by default (``learn_from_fitted``): an episode whose
proposal the budget fit lowered is stored as the episode of the *fitted* policy (the env
replays its observations; each action is its width's bin centre). That policy is what was
measured, and proposing it gives exactly that reward. It helps a small network and hurts
a deep one (docs/benchmarks.md): on fashion-cnn (12 decisions) DDPG's held-out accuracy
rose 1.4 points over six seeds, on fashion-mobilenet (46 decisions) its searches found
policies a point worse, not because the fit rewrites much (measured: it changes about
4 of 12 decisions on fashion-cnn and 4 of 46 on fashion-mobilenet); why is open.

An ending that departs from HAQ (``climb_after_stall``, a share of the episodes; DDPG's
default 0.5, off for TD3, SAC and PPO): once the search has gone that share of its
episodes without a new best, learning stops and the remaining episodes hill-climb from
the best episode (``agents.refine``). HAQ's exploration never settles in 300 episodes: on
fashion-cnn at 0.25 x int8 DDPG found its best by episode 34-77 and nothing better in the
220+ episodes after, whose average was 85% against a best of 89-91%. A stall of half the
search is the trigger because a shorter one cut off fashion-mobilenet, whose DDPG goes
100-140 episodes without a new best and then finds one (docs/benchmarks.md); a fixed
share climbed on every search (``refine`` of session 6) and cost that network its late bests.

Sparse exploration (``noise_decisions``, DDPG's default 4; None perturbs every decision as
HAQ, and TD3/SAC/PPO do): on fashion-mobilenet (46 decisions) noise on every decision
ruined most late episodes (their average was 68-78% against a best of 87%; one 2-bit
activation in a sensitive layer is enough), so DDPG's answer was whichever episode the
noise happened to spare. Perturbing a few decisions around the actor's action explores
as a mutation does (the evolution baseline flips about three of 46): DDPG's held-out
accuracy on fashion-mobilenet at 0.25 x int8 rose from 87.37% to 88.49% (3 seeds,
docs/benchmarks.md).

Off-policy agents learn after each episode (``train_freq=(1, "episode")``), one gradient
step per transition collected (HAQ; ``updates_per_step`` scales it). Adam runs fused (the
same update in one kernel): the networks are tiny, so per-op overhead is most of an
update's cost. The whole search is one ``learn`` call; a callback stops it when the
runner sets ``run.stopped``.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr, ndtri
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HumanOutputFormat, Logger
from stable_baselines3.common.noise import ActionNoise

from agents.base import Agent
from agents.cheap_starts import propose_cheap_starts
from agents.refine import refine
from hwsearch.env import MixedPrecisionEnv
from hwsearch.core.run import SearchRun

HAQ_WARMUP_EPISODES = 20
HAQ_SIGMA = 0.5
DEFAULT_SIGMA_DECAY = 0.995  # HAQ: 0.99; see the module docstring
HAQ_BASELINE_ALPHA = 0.5  # moving average of batch means: baseline += alpha * (mean - baseline)
HAQ_ACTOR_LR = 1e-4
HAQ_CRITIC_LR = 1e-3
DEFAULT_CLIMB_AFTER_STALL = 0.5  # DDPG's; see the module docstring
DEFAULT_CHEAP_STARTS = 8  # DDPG's: episodes given to the one-shot searches' answers (agents.cheap_starts)
DEFAULT_NOISE_DECISIONS = 4  # DDPG's: decisions perturbed per episode, on average (HAQ: all)


def default_warmup(episodes: int) -> int:
    """HAQ's 20 warm-up episodes, but at most a fifth of a short search (at least 1)."""
    return max(1, min(HAQ_WARMUP_EPISODES, episodes // 5))


class TruncatedNormalNoise(ActionNoise):
    """Truncated-normal exploration around the actor's action (HAQ).

    ``sigma`` is in the env's action units ([0, 1]); it decays by ``decay`` at the end of
    every episode after ``warmup_episodes``. ``share`` is the chance that a step is
    perturbed at all (1.0, HAQ: every step); an unperturbed step keeps the actor's action.
    Draws come from its own seeded generator.
    """

    def __init__(
        self,
        sigma: float = HAQ_SIGMA,
        decay: float = DEFAULT_SIGMA_DECAY,
        warmup_episodes: int = 0,
        seed: int = 0,
        share: float = 1.0,
    ):
        super().__init__()
        self.share = float(share)
        self.sigma = float(sigma)
        self.decay = float(decay)
        self.warmup_episodes = warmup_episodes
        self.episodes = 0
        self.rng = np.random.default_rng(seed)

    def perturb(self, action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """A draw from N(action, sigma) truncated to [low, high] (arrays of one shape)."""
        if self.share < 1.0 and self.rng.random() >= self.share:  # this step keeps the actor's action
            return np.clip(action, low, high)
        scale = self.sigma * (high - low)
        if np.all(scale <= 0):
            return np.clip(action, low, high)
        # inverse CDF on [Phi(a), Phi(b)]: exact, and ~50x cheaper than scipy's truncnorm.rvs
        # (the action lies inside the bounds, so the interval always holds the mode: no tail loss)
        a, b = ndtr((low - action) / scale), ndtr((high - action) / scale)
        return action + scale * ndtri(a + (b - a) * self.rng.random(np.shape(action)))

    def __call__(self) -> np.ndarray:  # only used if an algorithm adds noise itself
        return np.zeros(1, dtype=np.float32)

    def reset(self) -> None:
        self.episodes += 1
        if self.episodes > self.warmup_episodes:
            self.sigma *= self.decay


class HaqExplorationMixin:
    """Replace add-then-clip noise by ``TruncatedNormalNoise.perturb`` (off-policy, Box actions)."""

    def _sample_action(self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1):
        if not isinstance(action_noise, TruncatedNormalNoise) or self.num_timesteps < learning_starts:
            return super()._sample_action(learning_starts, action_noise, n_envs)
        action, _ = self.predict(self._last_obs, deterministic=True)
        scaled = self.policy.scale_action(action)  # [-1, 1]
        ones = np.ones_like(scaled)
        noisy = action_noise.perturb(scaled, -ones, ones).astype(np.float32)
        return self.policy.unscale_action(noisy), noisy


class SlowActorMixin:
    """Train the actor at ``actor_learning_rate`` (HAQ: 1e-4) and the critic at the
    algorithm's ``learning_rate`` (HAQ: 1e-3); SB3's TD3/DDPG use one rate for both."""

    actor_learning_rate: float | None = None

    def _update_learning_rate(self, optimizers) -> None:
        super()._update_learning_rate(optimizers)
        if self.actor_learning_rate is not None:
            for group in self.actor.optimizer.param_groups:
                group["lr"] = self.actor_learning_rate


class EpisodeRewardBuffer(ReplayBuffer):
    """Every transition of an episode carries the episode's final reward (HAQ).

    Transitions wait until their episode ends (single env), then all are added with the
    same reward. The baseline, as in HAQ's reference DDPG, is subtracted when a batch is
    *sampled*: a moving average (``baseline_alpha``, 0.5) of the sampled batches' mean
    reward. Every transition in a batch then has the same offset, so the critic still
    ranks old and new episodes on one scale (subtracting a moving baseline when storing,
    as this buffer once did, scores each episode only against the few before it, and an
    old poor episode looks as good as a new good one). ``use_baseline=False`` keeps raw rewards.
    With ``learn_from_fitted`` an episode the env reports as fitted (``fitted_obs`` and
    ``fitted_action`` in the last step's info) is stored as the fitted policy's steps.
    """

    def __init__(
        self,
        *args: Any,
        baseline_alpha: float = HAQ_BASELINE_ALPHA,
        use_baseline: bool = True,
        learn_from_fitted: bool = False,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.learn_from_fitted = learn_from_fitted
        self.baseline_alpha = baseline_alpha
        self.use_baseline = use_baseline
        self.baseline: float | None = None
        self._pending: list[tuple] = []

    def add(self, obs, next_obs, action, reward, done, infos) -> None:
        self._pending.append((np.copy(obs), np.copy(next_obs), np.copy(action), np.copy(done), infos))
        if not bool(np.asarray(done).reshape(-1)[0]):
            return
        final = np.array([float(np.asarray(reward).reshape(-1)[0])], dtype=np.float32)
        info = infos[0] if len(infos) else {}
        if self.learn_from_fitted and "fitted_obs" in info:  # the episode the fitted policy is
            actions = 2.0 * np.asarray(info["fitted_action"], dtype=np.float32) - 1.0  # SB3 stores [-1, 1]
            self._pending = [
                (info["fitted_obs"][k].reshape(o.shape), n, actions[k].reshape(a.shape), d, i)
                for k, (o, n, a, d, i) in enumerate(self._pending)
            ]
        for o, n, a, d, i in self._pending:
            super().add(o, n, a, final, d, i)
        self._pending = []

    def sample(self, batch_size: int, env=None):
        batch = super().sample(batch_size, env)
        if not self.use_baseline:
            return batch
        mean = float(batch.rewards.mean())
        self.baseline = mean if self.baseline is None else self.baseline + self.baseline_alpha * (mean - self.baseline)
        return batch._replace(rewards=batch.rewards - self.baseline)


class StopWhenDone(BaseCallback):
    """Stops ``learn`` once the runner has set ``run.stopped``, or, with ``patience``, once
    that many episodes in a row brought no new best (``stalled``), keeping the agent's own
    record of what each finished episode measured (``outcomes``, after the episodes the
    search proposed before learning, ``prior``; ``best`` indexes the first of the most accurate)."""

    def __init__(
        self, run: SearchRun, env: MixedPrecisionEnv, patience: int | None = None, prior: list | tuple = ()
    ) -> None:
        super().__init__()
        self.run, self.env, self.patience = run, env, patience
        self.outcomes: list = list(prior)
        self.best = max(range(len(self.outcomes)), key=lambda k: (self.outcomes[k].accuracy, -k), default=0)
        self.stalled = False

    def _on_step(self) -> bool:
        if bool(np.asarray(self.locals["dones"]).reshape(-1)[0]):
            self.outcomes.append(self.env.last_outcome)
            if self.env.last_outcome.accuracy > self.outcomes[self.best].accuracy:
                self.best = len(self.outcomes) - 1
            since = len(self.outcomes) - 1 - self.best
            self.stalled = self.patience is not None and since >= self.patience
        return not self.run.stopped and not self.stalled


class SB3Agent(Agent):
    """An SB3 algorithm learning on ``MixedPrecisionEnv`` for the whole search.

    Options (all agents): ``net_arch`` (hidden sizes), ``learning_rate``, ``decisions``
    ("separate"/"joint"), ``tensorboard_log`` (folder; used only if tensorboard is
    installed), ``verbose``; off-policy agents also ``updates_per_step`` (gradient steps
    per transition, 1.0 as in HAQ), ``buffer_episodes`` (episodes the replay buffer
    keeps, oldest dropped first; None keeps the whole search) and ``learn_from_fitted``
    (False, as HAQ: learn from the proposal; True: from the fitted policy, see the
    module docstring). ``climb_after_stall`` (None: never; DDPG sets 0.5): after that share
    of the episodes without a new best, the rest of the search hill-climbs from the best
    episode (``agents.refine``; the module docstring says why). When every neighbour of its
    incumbent has been measured the climb ends, and the search with it, unless
    ``climb_restarts`` (False; DDPG sets True) starts it again from the best measured
    policy not yet a start: the oracle benchmark found the optimum that way on every seed.
    Subclasses add theirs and build the algorithm in ``make``.
    """

    action: ClassVar[str] = "box"

    def __init__(
        self,
        net_arch: list[int] | None = None,
        learning_rate: float | None = None,
        decisions: str = "separate",
        tensorboard_log: str | None = None,
        verbose: int = 0,
        updates_per_step: float = 1.0,
        buffer_episodes: int | None = None,
        learn_from_fitted: bool = False,
        climb_after_stall: float | None = None,
        fresh_proposals: bool = False,
        climb_restarts: bool = False,
        cheap_starts: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if isinstance(cheap_starts, float) and cheap_starts.is_integer():  # JSON's 8.0
            cheap_starts = int(cheap_starts)
        if isinstance(cheap_starts, bool) or not isinstance(cheap_starts, int) or cheap_starts < 0:
            raise ValueError(f"cheap_starts must be an integer >= 0, got {cheap_starts!r}")
        self.cheap_starts = cheap_starts
        self.learn_from_fitted = learn_from_fitted
        self.fresh_proposals = bool(fresh_proposals)  # SearchRun.fresh: no episode on a known policy
        self.climb_restarts = bool(climb_restarts)  # a climb at a local optimum starts again (agents.refine)
        if climb_after_stall is not None and not 0.0 < climb_after_stall <= 1.0:
            raise ValueError(f"climb_after_stall must be in (0, 1] or None, got {climb_after_stall}")
        self.climb_after_stall = climb_after_stall
        if updates_per_step <= 0:
            raise ValueError(f"updates_per_step must be > 0, got {updates_per_step}")
        self.updates_per_step = float(updates_per_step)
        if buffer_episodes is not None and buffer_episodes < 1:
            raise ValueError(f"buffer_episodes must be >= 1, got {buffer_episodes}")
        self.buffer_episodes = buffer_episodes
        self.net_arch = net_arch
        self.learning_rate = learning_rate
        self.decisions = decisions
        self.tensorboard_log = tensorboard_log if importlib.util.find_spec("tensorboard") else None
        self.verbose = verbose
        self.model = None

    def make(self, env: MixedPrecisionEnv, episodes: int, seed: int):
        raise NotImplementedError

    def off_policy_kwargs(
        self, env: MixedPrecisionEnv, episodes: int, seed: int, warmup: int, batch_size: int, gamma: float
    ) -> dict[str, Any]:
        """What DDPG, TD3 and SAC share: HAQ's warm-up, learning after each episode (one
        gradient step per transition), the episode-reward buffer, small CPU networks."""
        steps = env.steps_per_episode
        return {
            "learning_rate": self.learning_rate or HAQ_CRITIC_LR,
            "buffer_size": self.buffer_episodes * steps if self.buffer_episodes else max(2000, (episodes + 1) * steps),
            "learning_starts": warmup * steps,
            "batch_size": batch_size,
            "gamma": gamma,
            "train_freq": (1, "episode"),
            "gradient_steps": max(1, round(self.updates_per_step * steps)),
            "replay_buffer_class": EpisodeRewardBuffer,
            "replay_buffer_kwargs": {"learn_from_fitted": self.learn_from_fitted},
            "policy_kwargs": {"net_arch": self.net_arch or [128, 128], "optimizer_kwargs": {"fused": True}},
            "tensorboard_log": self.tensorboard_log,
            "verbose": self.verbose,
            "seed": seed,
            "device": "cpu",
        }

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        import torch

        starts = propose_cheap_starts(run, min(self.cheap_starts, episodes // 10), seed)
        if run.stopped:  # cancelled, or a search no longer than its starts
            return
        run.fresh_proposals = self.fresh_proposals
        env = MixedPrecisionEnv(run, action=self.action, decisions=self.decisions, fitted_trajectory=self.learn_from_fitted)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        threads = torch.get_num_threads()
        # the agent's networks are tiny: extra threads only add overhead (and, on a busy
        # machine, OpenMP oversubscription stalls); the scorer evaluates with its own threads
        torch.set_num_threads(1)
        patience = None if self.climb_after_stall is None else max(1, round(self.climb_after_stall * episodes))
        self.model = self.make(env, episodes, seed)
        if self.tensorboard_log is None:  # SB3's default logger leaves an empty /tmp/SB3-<date> folder per search
            self.model.set_logger(Logger(folder=None, output_formats=[HumanOutputFormat(sys.stdout)] if self.verbose else []))
        try:
            # a generous step limit: the callback stops at the episode budget (PPO collects
            # whole rollouts, so it may need more steps than episodes x steps per episode)
            total = (episodes + 1) * env.steps_per_episode * 4
            done = StopWhenDone(run, env, patience, prior=starts)
            self.model.learn(total_timesteps=total, callback=done, tb_log_name=self.name)
        finally:
            torch.set_num_threads(threads)
        if done.stalled and not run.stopped:
            best = done.outcomes[done.best]
            refine(run, best.policy, best.accuracy, {o.policy for o in done.outcomes}, seed, restarts=self.climb_restarts)
