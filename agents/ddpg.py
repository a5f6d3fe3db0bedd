"""DDPG with HAQ's recipe: the default agent (see ``agents.rl`` for the recipe)."""

from __future__ import annotations

from stable_baselines3 import DDPG

from agents.rl import (
    DEFAULT_CHEAP_STARTS,
    DEFAULT_CLIMB_AFTER_STALL,
    DEFAULT_NOISE_DECISIONS,
    HAQ_ACTOR_LR,
    HAQ_SIGMA,
    DEFAULT_SIGMA_DECAY,
    HaqExplorationMixin,
    SB3Agent,
    SlowActorMixin,
    TruncatedNormalNoise,
    default_warmup,
)


class HaqDDPG(SlowActorMixin, HaqExplorationMixin, DDPG):
    """SB3's DDPG with truncated-normal exploration and HAQ's slower actor."""


class DDPGAgent(SB3Agent):
    """HAQ: DDPG, random warm-up episodes, decaying truncated-normal noise, reward baseline.

    Options: ``warmup_episodes`` (default ``min(20, episodes // 5)``), ``sigma`` (0.5),
    ``sigma_decay`` (0.995; HAQ: 0.99), ``batch_size`` (64), ``use_baseline`` (True), ``gamma`` (0),
    ``tau`` (0.01), ``actor_learning_rate`` (1e-4; the critic's is ``learning_rate``, 1e-3),
    ``noise_decisions`` (4: the decisions an episode perturbs, on average; None: all, as
    HAQ), ``climb_after_stall`` (0.5: after half the episodes without a new best,
    hill-climb from the best; None: never, as HAQ), ``climb_restarts`` (True: a climb at a
    local optimum starts again from the best measured policy not yet a start, so every
    episode is spent; False: the search ends there), ``cheap_starts`` (8: the first
    episodes, at most a tenth of them, are the best uniform policies and the fisher ILP's
    answers, so the search is never worse than those; 0: none, as HAQ), plus ``SB3Agent``'s (among them
    ``fresh_proposals``, False: True moves a policy the run already measured to an
    unmeasured neighbour, so no episode repeats one);
    ``net_arch`` defaults to [128, 128] (HAQ: 300x300, which doubles the agent's share of
    a search's time for no gain we could measure).
    """

    name = "ddpg"
    description = (
        "DDPG with HAQ's recipe (warm-up, truncated-normal noise on a few decisions per episode, reward "
        "baseline), ending in a hill climb once half the search brings no new best; the default"
    )
    algorithm = HaqDDPG

    def __init__(
        self,
        warmup_episodes: int | None = None,
        sigma: float = HAQ_SIGMA,
        sigma_decay: float = DEFAULT_SIGMA_DECAY,
        batch_size: int = 64,
        use_baseline: bool = True,
        gamma: float = 0.0,
        tau: float = 0.01,
        actor_learning_rate: float = HAQ_ACTOR_LR,
        climb_after_stall: float | None = DEFAULT_CLIMB_AFTER_STALL,
        noise_decisions: float | None = DEFAULT_NOISE_DECISIONS,
        climb_restarts: bool = True,
        cheap_starts: int = DEFAULT_CHEAP_STARTS,
        **options,
    ) -> None:
        super().__init__(
            climb_after_stall=climb_after_stall, climb_restarts=climb_restarts, cheap_starts=cheap_starts, **options
        )
        if noise_decisions is not None and noise_decisions <= 0:
            raise ValueError(f"noise_decisions must be > 0 or None, got {noise_decisions}")
        self.noise_decisions = noise_decisions
        self.warmup_episodes = warmup_episodes
        self.sigma, self.sigma_decay = sigma, sigma_decay
        self.batch_size, self.use_baseline, self.gamma, self.tau = batch_size, use_baseline, gamma, tau
        if actor_learning_rate <= 0:
            raise ValueError(f"actor_learning_rate must be > 0, got {actor_learning_rate}")
        self.actor_learning_rate = actor_learning_rate

    def extra_kwargs(self) -> dict:
        return {}

    def make(self, env, episodes: int, seed: int):
        warmup = default_warmup(episodes) if self.warmup_episodes is None else self.warmup_episodes
        kwargs = self.off_policy_kwargs(env, episodes, seed, warmup, self.batch_size, self.gamma)
        kwargs["replay_buffer_kwargs"]["use_baseline"] = self.use_baseline
        share = 1.0 if self.noise_decisions is None else min(1.0, self.noise_decisions / env.steps_per_episode)
        model = self.algorithm(
            "MlpPolicy",
            env,
            **kwargs,
            tau=self.tau,
            action_noise=TruncatedNormalNoise(self.sigma, self.sigma_decay, warmup, seed, share),
            **self.extra_kwargs(),
        )
        model.actor_learning_rate = self.actor_learning_rate
        return model
