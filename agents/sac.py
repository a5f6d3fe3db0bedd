"""SAC: a stochastic actor explores by itself (entropy bonus); HAQ's warm-up and reward buffer."""

from __future__ import annotations

from stable_baselines3 import SAC

from agents.rl import EpisodeRewardBuffer, SB3Agent, default_warmup


class SACAgent(SB3Agent):
    """SAC; options ``warmup_episodes``, ``batch_size`` (64), ``gamma`` (0), ``ent_coef`` ("auto")."""

    name = "sac"
    description = "SAC (entropy-regularised, stochastic actor) with HAQ's warm-up and reward baseline"

    def __init__(self, warmup_episodes: int | None = None, batch_size: int = 64, gamma: float = 0.0, ent_coef="auto", **options):
        super().__init__(**options)
        self.warmup_episodes, self.batch_size, self.gamma, self.ent_coef = warmup_episodes, batch_size, gamma, ent_coef

    def make(self, env, episodes: int, seed: int):
        warmup = default_warmup(episodes) if self.warmup_episodes is None else self.warmup_episodes
        steps = env.steps_per_episode
        return SAC(
            "MlpPolicy",
            env,
            learning_rate=self.learning_rate or 1e-3,
            buffer_size=max(2000, (episodes + 1) * steps),
            learning_starts=warmup * steps,
            batch_size=self.batch_size,
            gamma=self.gamma,
            train_freq=(1, "episode"),
            gradient_steps=-1,
            ent_coef=self.ent_coef,
            replay_buffer_class=EpisodeRewardBuffer,
            policy_kwargs={"net_arch": self.net_arch or [128, 128]},
            tensorboard_log=self.tensorboard_log,
            verbose=self.verbose,
            seed=seed,
            device="cpu",
        )
