"""Benchmark labels for an agent with options, shared by the benchmarks that compare agents.

A label such as ``haq-ddpg`` is the ``ddpg`` agent with the options that turn off what this
project added to HAQ's search; a plain agent name is that agent with its defaults.
"""

from __future__ import annotations

#: benchmark label -> (agent, its options)
VARIANTS: dict[str, tuple[str, dict]] = {
    "ddpg-no-starts": ("ddpg", {"cheap_starts": 0}),
    "ddpg-fresh": ("ddpg", {"fresh_proposals": True}),
    "ddpg-no-restarts": ("ddpg", {"climb_restarts": False}),
    "haq-ddpg": ("ddpg", {"noise_decisions": None, "climb_after_stall": None, "cheap_starts": 0}),
}


def resolve(label: str) -> tuple[str, dict]:
    """The agent and options behind a benchmark label (an agent's own name: no options)."""
    agent, options = VARIANTS.get(label, (label, {}))
    return agent, dict(options)
