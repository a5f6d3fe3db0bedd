"""PPO on the env's ``Discrete`` variant (a categorical choice of width per decision)."""

from __future__ import annotations

from stable_baselines3 import PPO

from agents.rl import SB3Agent


class PPOAgent(SB3Agent):
    """PPO; a rollout is ``episodes_per_rollout`` (4) whole episodes, ``gamma`` 1 (the only
    reward is at the end of an episode). Options: ``episodes_per_rollout``, ``n_epochs`` (10),
    ``ent_coef`` (0.01)."""

    name = "ppo"
    description = "PPO (on-policy) choosing widths from a categorical distribution"
    action = "discrete"

    def __init__(self, episodes_per_rollout: int = 4, n_epochs: int = 10, ent_coef: float = 0.01, **options):
        super().__init__(**options)
        self.episodes_per_rollout, self.n_epochs, self.ent_coef = episodes_per_rollout, n_epochs, ent_coef

    def make(self, env, episodes: int, seed: int):
        steps = env.steps_per_episode
        n_steps = steps * self.episodes_per_rollout
        return PPO(
            "MlpPolicy",
            env,
            learning_rate=self.learning_rate or 3e-4,
            n_steps=n_steps,
            batch_size=steps,
            n_epochs=self.n_epochs,
            gamma=1.0,
            gae_lambda=0.95,
            ent_coef=self.ent_coef,
            policy_kwargs={"net_arch": self.net_arch or [64, 64]},
            tensorboard_log=self.tensorboard_log,
            verbose=self.verbose,
            seed=seed,
            device="cpu",
        )
