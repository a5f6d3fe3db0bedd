"""SAC: a stochastic actor explores by itself (entropy bonus); HAQ's warm-up and reward buffer."""

from __future__ import annotations

from stable_baselines3 import SAC

from agents.rl import SB3Agent, default_warmup


class SACAgent(SB3Agent):
    """SAC; options ``warmup_episodes``, ``batch_size`` (64), ``gamma`` (0), ``ent_coef`` ("auto")."""

    name = "sac"
    description = "SAC (entropy-regularised, stochastic actor) with HAQ's warm-up and reward baseline"

    def __init__(self, warmup_episodes: int | None = None, batch_size: int = 64, gamma: float = 0.0, ent_coef="auto", **options):
        super().__init__(**options)
        self.warmup_episodes, self.batch_size, self.gamma, self.ent_coef = warmup_episodes, batch_size, gamma, ent_coef

    def make(self, env, episodes: int, seed: int):
        warmup = default_warmup(episodes) if self.warmup_episodes is None else self.warmup_episodes
        return SAC(
            "MlpPolicy",
            env,
            **self.off_policy_kwargs(env, episodes, seed, warmup, self.batch_size, self.gamma),
            ent_coef=self.ent_coef,
        )
