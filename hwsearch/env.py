"""``MixedPrecisionEnv``: HAQ's layer-by-layer bit-width environment (a ``gymnasium.Env``).

Episode. One pass over the quantizable layers (module names, in execution order).

- ``decisions="separate"`` (default, as HAQ): two steps per layer, first the weight bits,
  then the activation bits (the ``w/a`` flag in the observation says which).
- ``decisions="joint"``: one step per layer, the same bits for weights and activations.

Action. ``action="box"``: ``Box(0, 1, (1,))``, cut into equal bins, one per width the
decided kind may take (``problem.weight_bits`` or ``problem.activation_bits``: the spec's
sets, or ``min_bits..max_bits`` on the target plus its float formats), low to high; a
joint decision maps the action onto each kind's widths. ``action="discrete"``:
``Discrete(n)``, the index of the width (n: the larger set; clipped to the kind's).

Observation. ``Box(0, 1, (12,))``, HAQ's layer embedding, each feature min-max scaled over
the model's layers: layer index, in channels, out channels, kernel size, stride, input
feature-map size, log parameter count, depthwise flag, weight(1)/activation(0) flag,
previous action; plus two budget features: this layer's share of the uniform 8-bit
cost, and how much of the budget the decisions so far commit (chosen bits so far, the
lowest width for the rest; clipped at 2x budget, scaled to [0, 1]).

End of episode. The chosen policy is fitted to the budget (``Costing.fit``: bits are
lowered until it fits, so every finished episode's policy is feasible), its accuracy is
measured (cached per policy), and the reward is HAQ's ``0.1 * (acc - acc_float)`` in
percentage points (see ``SearchProblem.reward``); intermediate steps give reward 0.
``info`` of the last step carries ``policy`` (dict), ``accuracy``, ``latency_ms``,
``energy_mj``, ``size_mb``, ``objective``, ``reward`` and ``fitted`` (bits were lowered);
when fitted and the env was built with ``fitted_trajectory=True``, also ``fitted_obs``
and ``fitted_action``: the observations and actions of the episode that proposes the
fitted policy itself (``trajectory``), so an agent can learn from the policy that was
measured rather than the one it proposed.
A budget no policy can meet is a ``SpecError`` when the costing is built.
The env takes a ``SearchRun`` (or a ``SearchProblem``, wrapped in a plain run).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hwsearch.core.problem import SearchProblem
from hwsearch.core.run import SearchRun

N_FEATURES = 12


def _minmax(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min()
    return np.zeros_like(values) if span <= 0 else (values - values.min()) / span


class MixedPrecisionEnv(gym.Env):
    """One episode = one policy; see the module docstring for spaces and reward."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        run: SearchRun | SearchProblem,
        action: str = "box",
        decisions: str = "separate",
        fitted_trajectory: bool = False,
    ) -> None:
        super().__init__()
        if action not in ("box", "discrete"):
            raise ValueError(f"action: must be 'box' or 'discrete', got {action!r}")
        if decisions not in ("separate", "joint"):
            raise ValueError(f"decisions: must be 'separate' or 'joint', got {decisions!r}")
        self.run = run if isinstance(run, SearchRun) else SearchRun(run)
        self.problem = problem = self.run.problem
        self.action_type = action
        self.decisions = decisions
        self.fitted_trajectory = fitted_trajectory  # only agents that learn from it pay for the replay
        self.n_widths = (len(problem.weight_bits), len(problem.activation_bits))
        self.action_space = (
            spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32) if action == "box" else spaces.Discrete(max(self.n_widths))
        )
        self.observation_space = spaces.Box(0.0, 1.0, shape=(N_FEATURES,), dtype=np.float32)
        self._layer_features = self._embed()
        per_layer = 2 if decisions == "separate" else 1
        self.steps_per_episode = per_layer * problem.n_layers
        self._t = 0
        self._w = np.zeros(problem.n_layers, dtype=int)
        self._a = np.zeros(problem.n_layers, dtype=int)
        self._prev = 0.0
        self.last_outcome = None

    def _embed(self) -> np.ndarray:
        problem = self.problem
        first = {}
        for s in problem.specs:
            first.setdefault(s.name, s)
        specs = [first[n] for n in problem.names]
        n = len(specs)
        int8_share = problem.objective_grid[:, -1, -1]  # cost at the widest allowed width
        feats = np.stack(
            [
                np.arange(n, dtype=float),
                [s.in_channels for s in specs],
                [s.out_channels for s in specs],
                [s.kernel_size[0] for s in specs],
                [s.stride[0] for s in specs],
                [s.in_hw[0] * s.in_hw[1] for s in specs],
                np.log1p([s.params for s in specs]),
                [float(s.is_depthwise) for s in specs],
                int8_share / max(float(int8_share.sum()), 1e-30),
            ],
            axis=1,
        )
        for j in range(feats.shape[1]):
            if j != 7:
                feats[:, j] = _minmax(feats[:, j])
        return feats

    # ---- helpers --------------------------------------------------------------
    def _position(self, t: int) -> tuple[int, bool]:
        """Layer index and whether step ``t`` decides weights (True) or activations."""
        if self.decisions == "joint":
            return t, True
        return t // 2, t % 2 == 0

    def _committed(self) -> float:
        """Objective of the decisions so far with the lowest width for everything undecided."""
        problem = self.problem
        w, a = self._w.copy(), self._a.copy()
        layer, is_w = self._position(self._t) if self._t < self.steps_per_episode else (problem.n_layers, True)
        w[layer:] = 0
        a[layer:] = 0
        if layer < problem.n_layers and not is_w:
            w[layer] = self._w[layer]
        return problem.objective(w, a)

    def _obs(self) -> np.ndarray:
        t = min(self._t, self.steps_per_episode - 1)
        layer, is_w = self._position(t)
        f = self._layer_features[layer]
        pressure = min(self._committed() / self.problem.budget, 2.0) / 2.0
        obs = np.array([*f[:8], 1.0 if is_w else 0.0, self._prev, f[8], pressure], dtype=np.float32)
        return np.clip(obs, 0.0, 1.0)

    def to_index(self, action: Any, is_w: bool = True) -> int:
        """The width index an action selects for weights (``is_w``) or activations."""
        n = self.n_widths[0 if is_w else 1]
        if self.action_type == "discrete":
            return int(np.clip(int(np.asarray(action).reshape(-1)[0]), 0, n - 1))
        value = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], 0.0, 1.0))
        return min(int(value * n), n - 1)

    def _scaled(self, index: int, is_w: bool) -> float:
        """A width index as the observation's previous action (0..1)."""
        return index / max(self.n_widths[0 if is_w else 1] - 1, 1)

    def trajectory(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Observations, width indices and each step's number of widths of the episode that
        would choose exactly ``(w, a)`` (e.g. the fitted policy), without evaluating
        anything; the env's state is kept."""
        saved = (self._t, self._w.copy(), self._a.copy(), self._prev)
        obs, picks, counts = [], [], []
        try:
            self._t, self._prev = 0, 0.0
            self._w[:] = 0
            self._a[:] = 0
            while self._t < self.steps_per_episode:
                obs.append(self._obs())
                layer, is_w = self._position(self._t)
                index = int(w[layer] if is_w else a[layer])
                picks.append(index)
                counts.append(self.n_widths[0 if is_w else 1])
                self._w[layer] = w[layer] if (is_w or self.decisions == "joint") else self._w[layer]
                self._a[layer] = a[layer] if (not is_w or self.decisions == "joint") else self._a[layer]
                self._prev = self._scaled(index, is_w)
                self._t += 1
        finally:
            self._t, self._w[:], self._a[:], self._prev = saved[0], saved[1], saved[2], saved[3]
        return np.array(obs, dtype=np.float32), np.array(picks, dtype=int), np.array(counts, dtype=int)

    # ---- gymnasium API ----------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._w[:] = 0
        self._a[:] = 0
        self._prev = 0.0
        return self._obs(), {}

    def step(self, action):
        if self._t >= self.steps_per_episode:
            raise RuntimeError("episode is over: call reset()")
        layer, is_w = self._position(self._t)
        index = self.to_index(action, is_w)
        if self.decisions == "joint":
            self._w[layer], self._a[layer] = index, self.to_index(action, False)
        elif is_w:
            self._w[layer] = index
        else:
            self._a[layer] = index
        self._prev = self._scaled(index, is_w)
        self._t += 1
        if self._t < self.steps_per_episode:
            return self._obs(), 0.0, False, False, {}
        fitted = not self.problem.fits(self._w, self._a)
        outcome = self.run.propose(self._w, self._a)
        self.last_outcome = outcome
        info = {
            "policy": outcome.policy.to_dict(),
            "accuracy": outcome.accuracy,
            "latency_ms": outcome.latency_ms,
            "energy_mj": outcome.energy_mj,
            "size_mb": outcome.size_mb,
            "objective": outcome.objective,
            "reward": outcome.reward,
            "fitted": fitted,
        }
        if fitted and self.fitted_trajectory:  # what was measured, step by step
            fw, fa = self.problem.to_index(outcome.policy)
            info["fitted_obs"], index, counts = self.trajectory(fw, fa)
            info["fitted_action"] = index if self.action_type == "discrete" else (index + 0.5) / counts
        return self._obs(), float(outcome.reward), True, False, info
