"""What every agent searches against: costs, the budget, fitting, and cached accuracy.

``Costing`` is the cheap half (architecture trace + the target's cost grid): it is all
``validate_spec`` needs. ``SearchContext`` adds the expensive half (trained model,
quantized copy, validation subset) and the accuracy cache.

Inside the search a policy is two integer arrays ``(w, a)`` of indices into
``Costing.bits`` (the widths allowed: ``min_bits..max_bits`` intersected with the
target's ``supported_bits``), one entry per layer (module) name. Costs of a reused module
are summed over its executions. ``Costing.fit`` is the budget enforcement every episode
goes through (see its docstring).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import torch

from hwsearch.core.graph import LayerSpec, layer_names
from hwsearch.core.policy import Policy
from hwsearch.core.spec import UNITS, SearchSpec, SpecError

COST_KEYS = ("latency", "energy", "size")
REWARD_LAMBDA = 0.1  # HAQ


@dataclass(frozen=True)
class Costs:
    """Totals of one policy: latency (ms), energy (mJ, NaN if the target has none), size (MB)."""

    latency_ms: float
    energy_mj: float
    size_mb: float
    objective: float  # in the objective's unit (unitless x int8 for a mix)


class Costing:
    """The architecture's cost grid on a target, the objective and the budget."""

    def __init__(self, spec: SearchSpec, specs: list[LayerSpec], target) -> None:
        self.spec = spec
        self.specs = specs
        self.target = target
        self.names = layer_names(specs)
        self.weights = spec.objective_weights
        supported = target.supported_bits
        self.bits = [b for b in range(spec.min_bits, spec.max_bits + 1) if supported is None or b in supported]
        if not self.bits:
            raise SpecError(
                "min_bits",
                f"target {target.name!r} only runs widths {supported}; none is within {spec.min_bits}..{spec.max_bits}",
            )
        index = {n: i for i, n in enumerate(self.names)}
        layer_of = np.array([index[s.name] for s in specs])
        nl, nb = len(self.names), len(self.bits)
        # per layer name: [w, a, (latency, energy, size)]
        grid = np.zeros((nl, nb, nb, 3))
        raw = target.cost_array(specs, self.bits)
        np.add.at(grid[..., :2], layer_of, raw)
        int8 = np.zeros((nl, 2))
        np.add.at(int8, layer_of, target.cost_array(specs, [8])[:, 0, 0, :])
        self.weight_counts = np.zeros(nl)
        for s in specs:
            if s.call == 0 or self.weight_counts[index[s.name]] == 0:
                self.weight_counts[index[s.name]] = s.weight_count
        bits = np.array(self.bits, dtype=float)
        grid[..., 2] = (self.weight_counts[:, None] * bits[None, :] / 8 / 1e6)[:, :, None]
        self.grid = grid
        self.int8 = Costs(
            float(int8[:, 0].sum()),
            float(int8[:, 1].sum()),
            float((self.weight_counts * 8 / 8 / 1e6).sum()),
            math.nan,
        )
        if np.isnan(grid[..., 0]).any() or np.isnan(self.int8.latency_ms):
            raise SpecError("target", f"target {target.name!r} has no latency for some layers at widths {self.bits}")
        self.has_energy = not (np.isnan(grid[..., 1]).any() or np.isnan(self.int8.energy_mj))
        if "energy" in self.weights and not self.has_energy:
            raise SpecError("objective", f"target {target.name!r} has no energy figures; use the latency or size objective")
        int8_totals = {"latency": self.int8.latency_ms, "energy": self.int8.energy_mj, "size": self.int8.size_mb}
        mix = len(self.weights) > 1
        self.objective_grid = np.zeros((nl, nb, nb))
        for k, w in self.weights.items():
            scale = w / int8_totals[k] if mix else 1.0
            self.objective_grid += scale * grid[..., COST_KEYS.index(k)]
        self.int8_objective = sum(w for w in self.weights.values()) if mix else int8_totals[next(iter(self.weights))]
        self.int8 = Costs(self.int8.latency_ms, self.int8.energy_mj, self.int8.size_mb, self.int8_objective)
        self.unit = "x int8" if mix else UNITS[next(iter(self.weights))]
        budget = spec.budget
        if budget.absolute is not None:
            if mix:
                raise SpecError("budget", "a mixed objective is unitless: give a relative budget, e.g. {'relative': 0.4}")
            self.budget = float(budget.absolute)
        else:
            self.budget = float(budget.relative) * self.int8_objective
        flat = self.objective_grid.reshape(nl, -1)
        self.cheapest = flat.argmin(axis=1)
        self.min_objective = float(flat.min(axis=1).sum())
        if self.min_objective > self.budget * (1 + 1e-9):
            raise SpecError(
                "budget",
                f"no policy can meet {budget.describe(self.unit)} = {self.budget:.4g} {self.unit}: even the cheapest "
                f"bits ({self.bits[0]}..{self.bits[-1]}) on every layer cost {self.min_objective:.4g} {self.unit} "
                f"({self.min_objective / self.int8_objective:.3f} x int8)",
            )

    # ---- policies as index arrays -------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.names)

    def to_policy(self, w: np.ndarray, a: np.ndarray) -> Policy:
        return Policy({n: (self.bits[int(wi)], self.bits[int(ai)]) for n, wi, ai in zip(self.names, w, a)})

    def to_index(self, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        pos = {b: i for i, b in enumerate(self.bits)}
        try:
            w = np.array([pos[policy[n].weight_bits] for n in self.names])
            a = np.array([pos[policy[n].activation_bits] for n in self.names])
        except KeyError as exc:
            raise ValueError(f"policy uses a width outside the search's widths {self.bits}: {exc}") from None
        return w, a

    def uniform(self, bits_index: int) -> tuple[np.ndarray, np.ndarray]:
        full = np.full(self.n_layers, bits_index, dtype=int)
        return full, full.copy()

    def objective(self, w: np.ndarray, a: np.ndarray) -> float:
        return float(self.objective_grid[np.arange(self.n_layers), w, a].sum())

    def costs(self, w: np.ndarray, a: np.ndarray) -> Costs:
        picked = self.grid[np.arange(self.n_layers), w, a].sum(axis=0)
        return Costs(float(picked[0]), float(picked[1]), float(picked[2]), self.objective(w, a))

    def policy_costs(self, policy: Policy) -> Costs:
        return self.costs(*self.to_index(policy))

    def fits(self, w: np.ndarray, a: np.ndarray) -> bool:
        return self.objective(w, a) <= self.budget * (1 + 1e-9)

    def fit(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower bits until the policy meets the budget (returns copies; a fitting policy is unchanged).

        Each step lowers by one allowed width the single decision (a layer's weights or its
        activations) whose lowering saves the most objective cost, so the overshoot is
        removed with as few lowered bits as possible, deterministically (ties: the earlier
        layer, weights before activations). Terminates: each step lowers some width; if no
        single step saves anything while still over budget (non-monotone tables), it falls
        back to every layer's cheapest pair, which meets the budget (checked at construction).
        """
        w, a = np.array(w, dtype=int), np.array(a, dtype=int)
        rows = np.arange(self.n_layers)
        g = self.objective_grid
        while not self.fits(w, a):
            now = g[rows, w, a]
            save_w = np.where(w > 0, now - g[rows, np.maximum(w - 1, 0), a], -np.inf)
            save_a = np.where(a > 0, now - g[rows, w, np.maximum(a - 1, 0)], -np.inf)
            both = np.stack([save_w, save_a], axis=1)  # (layer, w/a)
            best = int(np.argmax(both))
            if not both.flat[best] > 0:
                nb = len(self.bits)
                return self.cheapest // nb, self.cheapest % nb
            layer, which = divmod(best, 2)
            if which == 0:
                w[layer] -= 1
            else:
                a[layer] -= 1
        return w, a


def _build_specs(spec: SearchSpec) -> list[LayerSpec]:
    from hwsearch.data import DataError, load_dataset
    from hwsearch.core.graph import trace
    from hwsearch.zoo import MODELS, ModelError, build_model, example_input, get_entry

    try:
        if spec.model in MODELS:
            if get_entry(spec.model).dataset is None and spec.data is None:
                raise SpecError(
                    "data", f"model {spec.model!r} is an architecture without a data set; give 'data' (and 'weights')"
                )
            x = example_input(spec.model)
        elif ":" in spec.model:
            if spec.data is None:
                raise SpecError("data", f"user model {spec.model!r} needs 'data' to measure accuracy on")
            try:
                x = load_dataset(spec.data).example_input()
            except DataError as exc:
                raise SpecError("data", str(exc)) from None
        else:
            get_entry(spec.model)  # raises with the list of names
            raise AssertionError
        model = build_model(spec.model, trained=False)
        return trace(model, x)
    except ModelError as exc:
        raise SpecError("model", str(exc)) from None


def build_costing(spec: SearchSpec) -> Costing:
    """Trace the architecture and cost it on the target; every failure is a ``SpecError``."""
    from agents import AGENT_NAMES
    from latency_tables import TableError, UnknownTargetError, get_target

    if spec.agent not in AGENT_NAMES:
        raise SpecError("agent", f"unknown agent {spec.agent!r}; choose from {', '.join(AGENT_NAMES)}")
    specs = _build_specs(spec)
    if not specs:
        raise SpecError("model", f"model {spec.model!r} has no Conv2d/Linear layer to quantize")
    try:
        target = get_target(spec.target)
    except (UnknownTargetError, TableError, ValueError) as exc:
        raise SpecError("target", str(exc)) from None
    try:
        return Costing(spec, specs, target)
    except (TableError, KeyError) as exc:
        raise SpecError("target", str(exc).strip("'\"")) from None


@dataclass
class EvalStats:
    evaluations: int = 0
    cache_hits: int = 0
    eval_seconds: float = 0.0


class SearchContext(Costing):
    """``Costing`` plus the quantized model and a cached accuracy of each policy."""

    def __init__(self, spec: SearchSpec, costing: Costing | None = None) -> None:
        import torch

        from hwsearch.data import Split, load_dataset
        from hwsearch.evaluate import accuracy
        from hwsearch.quant import QuantizedModel
        from hwsearch.zoo import build_model, model_dataset

        costing = costing or build_costing(spec)
        self.__dict__.update(costing.__dict__)
        self.model = build_model(spec.model, weights=spec.weights)
        dataset = load_dataset(spec.data) if spec.data else model_dataset(spec.model)
        self.dataset = dataset
        self.eval_split = dataset.val.head(spec.eval_samples) if spec.eval_samples else dataset.val
        rest = Split(dataset.val.x[len(self.eval_split) :], dataset.val.y[len(self.eval_split) :])
        self.confirm_split = rest.head(spec.confirm_samples) if spec.confirm_samples else rest  # may be empty
        self.confirm_cache: dict[Policy, float] = {}
        torch.manual_seed(spec.seed)
        self.qmodel = QuantizedModel(self.model, dataset.calib.x)  # fixed calibration: a policy scores the same for every seed
        self.qmodel.precompute(sorted(set(self.bits) | {8}))
        self._accuracy = accuracy
        self.float_accuracy = accuracy(self.model, self.eval_split)
        self.cache: dict[Policy, float] = {}
        self.stats = EvalStats()
        self.eval_threads = torch.get_num_threads()  # threads for accuracy evaluation
        self.order: list[Policy] = []  # evaluation order (for the Pareto front and checkpoints)
        self.stopped = False  # set by the runner: agents stop proposing when true
        self.on_episode: Callable[[EpisodeOutcome], None] | None = None
        self.reward_lambda = REWARD_LAMBDA
        self.cost_weight = 0.0
        self.robust = None  # a RobustEvaluator when the spec has a robust block
        if spec.robust is not None:
            from hwsearch.robust.search import RobustEvaluator

            self.robust = RobustEvaluator(self)

    def reward(self, accuracy: float, objective: float) -> float:
        """HAQ's reward, ``lambda * (acc - acc_float)`` with accuracies in percentage points,
        minus ``cost_weight * objective / budget`` (0 by default: the budget is a hard
        constraint enforced by ``fit``, so cost only enters through it)."""
        return self.reward_lambda * 100.0 * (accuracy - self.float_accuracy) - self.cost_weight * objective / self.budget

    def score(self, w: np.ndarray, a: np.ndarray) -> EpisodeOutcome:
        """Fit ``(w, a)`` to the budget, measure it (cached) and compute its reward."""
        w, a = self.fit(w, a)
        policy = self.to_policy(w, a)
        acc = self.accuracy(policy)
        costs = self.costs(w, a)
        reward = self.reward(acc, costs.objective)
        if self.robust is not None and self.robust.every_episode:  # asked for: attack every candidate
            reward += self.robust.reward_term(self.robust.accuracy(policy))
        return EpisodeOutcome(policy, acc, costs, reward)

    def propose(self, w: np.ndarray, a: np.ndarray) -> EpisodeOutcome:
        """One episode: score the candidate and hand it to the runner (history, best, stop)."""
        outcome = self.score(w, a)
        if self.on_episode is not None:
            self.on_episode(outcome)
        return outcome

    def accuracy(self, policy: Policy) -> float:
        """Top-1 accuracy (0..1) of ``policy`` on the fixed validation subset (cached)."""
        hit = self.cache.get(policy)
        if hit is not None:
            self.stats.cache_hits += 1
            return hit
        start = time.perf_counter()
        threads = torch.get_num_threads()
        if threads != self.eval_threads:
            torch.set_num_threads(self.eval_threads)
        try:
            self.qmodel.set_policy(policy)
            value = self._accuracy(self.qmodel, self.eval_split)
        finally:
            if threads != self.eval_threads:
                torch.set_num_threads(threads)
        self.stats.eval_seconds += time.perf_counter() - start
        self.stats.evaluations += 1
        self.cache[policy] = value
        self.order.append(policy)
        return value

    def confirm_accuracy(self, policy: Policy) -> float:
        """Accuracy of ``policy`` on the confirmation images (``hwsearch.search.confirm``; cached)."""
        hit = self.confirm_cache.get(policy)
        if hit is None:
            start = time.perf_counter()
            self.qmodel.set_policy(policy)
            hit = self.confirm_cache[policy] = self._accuracy(self.qmodel, self.confirm_split)
            self.stats.eval_seconds += time.perf_counter() - start
        return hit

    def accuracy_of(self, w: np.ndarray, a: np.ndarray) -> float:
        return self.accuracy(self.to_policy(w, a))

    def preload(self, entries: list[tuple[Policy, float]]) -> None:
        """Restore cached accuracies (from a checkpoint), in their evaluation order."""
        for policy, value in entries:
            if policy not in self.cache:
                self.cache[policy] = value
                self.order.append(policy)


@dataclass
class EpisodeOutcome:
    """One finished episode: the fitted policy and its scores (what agents hand back)."""

    policy: Policy
    accuracy: float
    costs: Costs
    reward: float
    extra: dict = field(default_factory=dict)
