"""TD3 (twin critics, delayed actor, target smoothing) with the same HAQ exploration as DDPG."""

from __future__ import annotations

from stable_baselines3 import TD3

from agents.ddpg import DDPGAgent
from agents.rl import HaqExplorationMixin, SlowActorMixin


class HaqTD3(SlowActorMixin, HaqExplorationMixin, TD3):
    """SB3's TD3 with truncated-normal exploration and HAQ's slower actor."""


class TD3Agent(DDPGAgent):
    """TD3 with HAQ's warm-up, noise and reward baseline; options as ``DDPGAgent`` plus
    ``policy_delay`` (2) and ``target_policy_noise`` (0.2), but HAQ's noise on every
    decision, no final climb and no cheap starts by default (``noise_decisions`` and
    ``climb_after_stall`` None, ``cheap_starts`` 0: the algorithm as published, for comparison)."""

    name = "td3"
    description = "TD3 with HAQ's warm-up, truncated-normal noise and reward baseline"
    algorithm = HaqTD3

    def __init__(
        self,
        policy_delay: int = 2,
        target_policy_noise: float = 0.2,
        climb_after_stall: float | None = None,
        noise_decisions: float | None = None,
        cheap_starts: int = 0,
        **options,
    ) -> None:
        super().__init__(
            climb_after_stall=climb_after_stall, noise_decisions=noise_decisions, cheap_starts=cheap_starts, **options
        )
        self.policy_delay, self.target_policy_noise = policy_delay, target_policy_noise

    def extra_kwargs(self) -> dict:
        return {"policy_delay": self.policy_delay, "target_policy_noise": self.target_policy_noise}
