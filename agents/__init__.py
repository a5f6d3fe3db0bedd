"""Search agents behind one interface (``agents.base.Agent``), SB3-style: a small common
part, one module per algorithm.

RL (``MixedPrecisionEnv``, stable-baselines3): ``ddpg`` (HAQ's recipe, the default),
``td3``, ``sac``, ``ppo``. Baselines (``agents.baselines``): ``uniform``, ``random``,
``greedy``, ``ilp``, ``evolution``; ``fisher`` (``agents.gradient``) is ``ilp`` on
sensitivities from gradients. ``get_agent(name, **options)`` builds one.
"""

from __future__ import annotations

from typing import Any

from agents.base import Agent

AGENT_NAMES: tuple[str, ...] = ("ddpg", "td3", "sac", "ppo", "uniform", "random", "greedy", "ilp", "evolution", "fisher")
RL_AGENTS: tuple[str, ...] = ("ddpg", "td3", "sac", "ppo")


def agent_class(name: str) -> type[Agent]:
    """The class of agent ``name`` (imports stable-baselines3 only for RL agents)."""
    if name == "ddpg":
        from agents.ddpg import DDPGAgent as cls
    elif name == "td3":
        from agents.td3 import TD3Agent as cls
    elif name == "sac":
        from agents.sac import SACAgent as cls
    elif name == "ppo":
        from agents.ppo import PPOAgent as cls
    elif name in ("uniform", "random", "greedy", "ilp", "evolution"):
        from agents import baselines

        cls = {
            "uniform": baselines.UniformAgent,
            "random": baselines.RandomAgent,
            "greedy": baselines.GreedyAgent,
            "ilp": baselines.ILPAgent,
            "evolution": baselines.EvolutionAgent,
        }[name]
    elif name == "fisher":
        from agents.gradient import FisherAgent as cls
    else:
        raise ValueError(f"unknown agent {name!r}; choose from {', '.join(AGENT_NAMES)}")
    return cls


def get_agent(name: str, **options: Any) -> Agent:
    """A new agent ``name`` with ``options`` (see each class's docstring)."""
    try:
        return agent_class(name)(**options)
    except TypeError as exc:
        raise ValueError(f"agent {name!r}: {exc}") from None


__all__ = ["AGENT_NAMES", "RL_AGENTS", "Agent", "agent_class", "get_agent"]
