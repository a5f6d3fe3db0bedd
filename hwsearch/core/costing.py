"""``Costing``: an architecture's cost grid on a target, the objective and the budget.

Inside the search a policy is two integer arrays ``(w, a)``, one entry per layer (module)
name: indices into ``Costing.weight_bits`` and ``Costing.activation_bits``, the widths
each kind may take, low to high (the spec's sets, or ``min_bits..max_bits`` intersected
with the target's ``supported_bits`` plus the float formats it has kernels for). Costs of a reused module
are summed over its executions. ``Costing.fit`` is the budget enforcement every episode
goes through (see its docstring). It needs only the trace and a cost model, never a
trained model or data, so a service can run it before queuing a job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hwsearch.core.choice_ilp import PairCost, solve_choices
from hwsearch.core.cost_model import CostModel
from hwsearch.core.graph import LayerSpec, layer_names
from hwsearch.core.policy import FLOAT_BITS, MAX_BITS, Policy
from hwsearch.core.spec import UNITS, SearchSpec, SpecError

COST_KEYS = ("latency", "energy", "size")
HALF_BITS = 16


def describe_widths(widths: list[int]) -> str:
    """``[2, 3, 4, 8, 32]`` -> ``'2-4,8,32 (float)'``: how a set of widths reads in messages."""
    parts: list[str] = []
    run: list[int] = []
    for w in [*widths, None]:
        if w is not None and w <= 8 and run and w == run[-1] + 1:
            run.append(w)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ",".join(map(str, run)))
        run = [w] if w is not None and w <= 8 else []
        if w is not None and w > 8:
            parts.append(f"{w} ({'float' if w == FLOAT_BITS else 'half'})")
    return ",".join(parts)


def choices(asked: list[int] | None, spec: SearchSpec, target: CostModel, field: str) -> list[int]:
    """The widths one kind (weights or activations) may take on ``target``, low to high.

    Integer widths are those the target runs (``supported_bits``; None = every 2..8). By
    default: ``min_bits..max_bits`` plus the float formats the target has real kernels
    for (``float_formats``, e.g. a measured CPU's fp32). Asked-for sets keep what the
    target can run or cost: float where it costs float, half where it has half kernels.
    """
    supported = target.supported_bits
    formats = list(target.float_formats)
    if asked is None:
        return [b for b in range(spec.min_bits, spec.max_bits + 1) if supported is None or b in supported] + formats

    def runs(b: int) -> bool:
        if b == FLOAT_BITS:
            return b in formats or target.has_float
        if b == HALF_BITS:
            return b in formats
        return supported is None or b in supported

    kept = [b for b in asked if runs(b)]
    if not kept:
        offered = "2-8" if supported is None else describe_widths(supported)
        extra = ", ".join(f"{b}" for b in formats)
        raise SpecError(
            field,
            f"target {target.name!r} runs none of {describe_widths(asked)}; it runs {offered}"
            + (f" and {extra}" if extra else "")
            + (" (float is costed)" if target.has_float and FLOAT_BITS not in formats else ""),
        )
    return kept


@dataclass(frozen=True)
class Switch:
    """What layer ``layer`` costs more (per weight x activation width index; < 0: less) when
    any of ``consumers`` takes an activation width marked in ``triggers``: a float one makes
    an integer layer fall back to float (``CostModel.fallbacks``), an integer one makes a float
    layer pay the way back into integer kernels (``CostModel.entries``); in objective units
    and in ms."""

    layer: int
    consumers: tuple[int, ...]
    extra_objective: np.ndarray
    extra_latency: np.ndarray
    triggers: np.ndarray  # bool per activation width index

@dataclass(frozen=True)
class Costs:
    """Totals of one policy: latency (ms), energy (mJ, NaN if the target has none), size (MB)."""

    latency_ms: float
    energy_mj: float
    size_mb: float
    objective: float  # in the objective's unit (unitless x int8 for a mix)


class Costing:
    """The architecture's cost grid on a target, the objective and the budget."""

    def __init__(self, spec: SearchSpec, specs: list[LayerSpec], target: CostModel) -> None:
        self.spec = spec
        self.specs = specs
        self.target = target
        self.names = layer_names(specs)
        self.weights = spec.objective_weights
        self.weight_bits = choices(spec.weight_bits, spec, target, "weight_bits")
        self.activation_bits = choices(spec.activation_bits, spec, target, "activation_bits")
        index = {n: i for i, n in enumerate(self.names)}
        layer_of = np.array([index[s.name] for s in specs])
        nl, nw, na = len(self.names), len(self.weight_bits), len(self.activation_bits)
        # per layer name: [w, a, (latency, energy, size)]
        grid = np.zeros((nl, nw, na, 3))
        union = sorted({*self.weight_bits, *self.activation_bits})
        raw = target.cost_array(specs, union)
        raw = raw[:, [union.index(b) for b in self.weight_bits]][:, :, [union.index(b) for b in self.activation_bits]]
        with np.errstate(over="ignore"):  # checked below
            np.add.at(grid[..., :2], layer_of, raw)
        self.weight_counts = np.zeros(nl)
        for s in specs:
            if s.call == 0 or self.weight_counts[index[s.name]] == 0:
                self.weight_counts[index[s.name]] = s.weight_count
        bits = np.array(self.weight_bits, dtype=float)
        grid[..., 2] = (self.weight_counts[:, None] * bits[None, :] / 8 / 1e6)[:, :, None]
        self.grid = grid
        self.int8 = self.uniform_totals(8)
        if np.isnan(grid[..., 0]).any() or np.isnan(self.int8.latency_ms):
            raise SpecError(
                "target",
                f"target {target.name!r} has no latency for some layers at weight widths {self.weight_bits} "
                f"and activation widths {self.activation_bits}",
            )
        self.has_energy = not (np.isnan(grid[..., 1]).any() or np.isnan(self.int8.energy_mj))
        if "energy" in self.weights and not self.has_energy:
            raise SpecError("objective", f"target {target.name!r} has no energy figures; use the latency or size objective")
        self._refuse_unusable_costs()
        int8_totals = {"latency": self.int8.latency_ms, "energy": self.int8.energy_mj, "size": self.int8.size_mb}
        mix = len(self.weights) > 1
        self.objective_grid = np.zeros((nl, nw, na))
        for k, w in self.weights.items():
            scale = w / int8_totals[k] if mix else 1.0
            self.objective_grid += scale * grid[..., COST_KEYS.index(k)]
        self.int8_objective = sum(w for w in self.weights.values()) if mix else int8_totals[next(iter(self.weights))]
        with np.errstate(over="ignore"):
            dearest = float(self.objective_grid.max(axis=(1, 2)).sum())
        if not math.isfinite(dearest):  # a mix whose int8 cost is vanishing next to a width's
            raise SpecError("objective", f"the dearest policy's objective on target {target.name!r} does not fit a float")
        self.int8 = Costs(self.int8.latency_ms, self.int8.energy_mj, self.int8.size_mb, self.int8_objective)
        self.unit = "x int8" if mix else UNITS[next(iter(self.weights))]
        latency_scale = self.weights.get("latency", 0.0) / self.int8.latency_ms if mix else float("latency" in self.weights)
        self.float_activations = np.array([b > MAX_BITS for b in self.activation_bits])
        self.switches = self._switches(latency_scale, union) if max(self.bits) > MAX_BITS else []
        budget = spec.budget
        if budget.absolute is not None:
            if mix:
                raise SpecError("budget", "a mixed objective is unitless: give a relative budget, e.g. {'relative': 0.4}")
            self.budget = float(budget.absolute)
        else:
            self.budget = float(budget.relative) * self.int8_objective
        if not (math.isfinite(self.budget) and self.budget > 0):  # e.g. a relative budget of a vanishing cost
            raise SpecError("budget", f"{budget.describe(self.unit)} is {self.budget:g} {self.unit}: a budget must be finite and > 0")
        flat = self.objective_grid.reshape(nl, -1)
        self.cheapest = flat.argmin(axis=1)
        if self.switches:  # the cheapest widths of each layer alone may switch formats at a cost
            self.cheapest = solve_choices(flat, np.zeros_like(flat), math.inf, pairs=self.pair_costs(as_predicted=True))
        self.min_objective = self.objective(self.cheapest // na, self.cheapest % na)
        if self.min_objective > self.budget * (1 + 1e-9):
            raise SpecError(
                "budget",
                f"no policy can meet {budget.describe(self.unit)} = {self.budget:.4g} {self.unit}: even the cheapest "
                f"widths (weights {describe_widths(self.weight_bits)}, activations {describe_widths(self.activation_bits)}) "
                f"on every layer cost {self.min_objective:.4g} {self.unit} "
                f"({self.min_objective / self.int8_objective:.3f} x int8)",
            )

    def _switches(self, latency_scale: float, union: list[int]) -> list[Switch]:
        """The target's ``fallbacks`` and ``entries`` as per-layer extra costs over the search's
        widths, one ``Switch`` per layer and trigger."""
        index = {n: i for i, n in enumerate(self.names)}
        float_w = np.array([b > MAX_BITS for b in self.weight_bits])[:, None]
        integer = ~float_w & ~self.float_activations[None, :]
        wcols = [union.index(b) for b in self.weight_bits]
        acols = [union.index(b) for b in self.activation_bits]
        kinds = (
            (self.target.fallbacks(self.specs), self.float_activations, integer, True),
            (self.target.entries(self.specs), ~self.float_activations, ~integer, False),
        )
        out = []
        for terms, triggers, own_widths, replaces in kinds:
            if not triggers.any() or not own_widths.any():
                continue
            extra: dict[int, np.ndarray] = {}
            consumers: dict[int, set[int]] = {}
            for term in terms:
                layer = index[term.spec.name]
                added = term.latency_ms
                if replaces:  # a fallback's latency replaces the layer's own
                    added = term.latency_ms - self.target.cost_array([term.spec], union)[0][wcols][:, acols, 0]
                extra[layer] = extra.get(layer, 0.0) + np.where(own_widths, added, 0.0)
                consumers.setdefault(layer, set()).update(index[c] for c in term.consumers if c in index)
            out += [
                Switch(layer, tuple(sorted(consumers[layer])), latency_scale * lat, lat, triggers)
                for layer, lat in sorted(extra.items())
                if consumers[layer] and np.any(lat != 0)
            ]
        return out

    def pair_costs(self, as_predicted: bool = False) -> list[PairCost]:
        """``switches`` for ``solve_choices`` over options ``w * len(activation_bits) + a``: as
        extra budget cost (a search under the budget), or as extra objective (the cheapest policy)."""
        out = []
        for s in self.switches:
            extra = s.extra_objective.reshape(-1)
            zero = np.zeros_like(extra)
            triggers = np.tile(s.triggers, len(self.weight_bits))
            out.append(PairCost(s.layer, s.consumers, zero if as_predicted else extra, extra if as_predicted else zero, triggers))
        return out

    def _switched(self, w: np.ndarray, a: np.ndarray) -> tuple[float, float]:
        """Extra (objective, latency ms) of the format switches ``(w, a)`` makes."""
        objective = latency = 0.0
        for s in self.switches:
            if s.triggers[a[list(s.consumers)]].any():
                objective += float(s.extra_objective[w[s.layer], a[s.layer]])
                latency += float(s.extra_latency[w[s.layer], a[s.layer]])
        return objective, latency

    def _refuse_unusable_costs(self) -> None:
        """Every cost the search may add up is finite and > 0, and so is every total: a zero
        cost makes a zero budget (the env divides by it), an infinite one a policy without a
        latency. Any target, not only uploaded tables (those are also checked row by row)."""
        kinds = ("latency", "energy") if self.has_energy else ("latency",)
        for k in kinds:
            values = self.grid[..., COST_KEYS.index(k)]
            bad = np.argwhere(~(np.isfinite(values) & (values > 0)))
            if len(bad):
                layer, wi, ai = bad[0]
                raise SpecError(
                    "target",
                    f"target {self.target.name!r} gives layer {self.names[layer]!r} a {k} of {values[layer, wi, ai]:g} "
                    f"{UNITS[k]} at weight width {self.weight_bits[wi]}, activation width {self.activation_bits[ai]}: "
                    "costs must be finite and > 0",
                )
            int8 = self.int8.latency_ms if k == "latency" else self.int8.energy_mj
            with np.errstate(over="ignore"):
                dearest = float(values.max(axis=(1, 2)).sum())
            if not (math.isfinite(int8) and int8 > 0 and math.isfinite(dearest)):
                raise SpecError(
                    "target",
                    f"target {self.target.name!r}: the model's total {k} does not fit a float (uniform int8: {int8:g} "
                    f"{UNITS[k]}, dearest policy: {dearest:g} {UNITS[k]}); costs must be finite and > 0",
                )

    def uniform_totals(self, bits: int) -> Costs:
        """Totals of every layer at ``bits`` (any width the target costs, not only the search's);
        ``objective`` is NaN: a uniform policy outside the search's widths has no index form."""
        index = {n: i for i, n in enumerate(self.names)}
        totals = np.zeros((self.n_layers, 2))
        layer_of = np.array([index[s.name] for s in self.specs])
        with np.errstate(over="ignore"):  # an overflow is an infinite total, refused at construction
            np.add.at(totals, layer_of, self.target.cost_array(self.specs, [bits])[:, 0, 0, :])
            latency, energy = float(totals[:, 0].sum()), float(totals[:, 1].sum())
        size = float((self.weight_counts * bits / 8 / 1e6).sum())
        return Costs(latency, energy, size, math.nan)

    def layer_costs(self, policy: Policy) -> list[tuple[float, float]]:
        """(latency ms, energy mJ) of each layer name under ``policy``, summed over its calls;
        from the cost model itself, so any width it costs works, not only the search's."""
        cost = self.target.policy_cost(self.specs, policy)
        sums = {name: [0.0, 0.0] for name in self.names}
        for s, c in zip(self.specs, cost.layers):
            sums[s.name][0] += c.latency_ms
            sums[s.name][1] += c.energy_mj
        return [(sums[name][0], sums[name][1]) for name in self.names]

    # ---- policies as index arrays -------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.names)

    @property
    def bits(self) -> list[int]:
        """Every width either kind may take (the quantizers a scorer prepares)."""
        return sorted({*self.weight_bits, *self.activation_bits})

    @property
    def top(self) -> tuple[int, int]:
        """Index of the widest weight and activation width."""
        return len(self.weight_bits) - 1, len(self.activation_bits) - 1

    def to_policy(self, w: np.ndarray, a: np.ndarray) -> Policy:
        wb, ab = self.weight_bits, self.activation_bits
        return Policy({n: (wb[int(wi)], ab[int(ai)]) for n, wi, ai in zip(self.names, w, a)})

    def to_index(self, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        wpos = {b: i for i, b in enumerate(self.weight_bits)}
        apos = {b: i for i, b in enumerate(self.activation_bits)}
        try:
            w = np.array([wpos[policy[n].weight_bits] for n in self.names])
            a = np.array([apos[policy[n].activation_bits] for n in self.names])
        except KeyError as exc:
            raise ValueError(
                f"policy uses a width outside the search's widths (weights {self.weight_bits}, "
                f"activations {self.activation_bits}): {exc}"
            ) from None
        return w, a

    def uniform(self, w_index: int, a_index: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every layer at weight width index ``w_index`` and activation index ``a_index``
        (default: the same index, clipped to the activations' widths)."""
        a_index = min(w_index, len(self.activation_bits) - 1) if a_index is None else a_index
        return np.full(self.n_layers, w_index, dtype=int), np.full(self.n_layers, a_index, dtype=int)

    def objective(self, w: np.ndarray, a: np.ndarray) -> float:
        total = float(self.objective_grid[np.arange(self.n_layers), w, a].sum())
        return total + self._switched(w, a)[0] if self.switches else total

    def costs(self, w: np.ndarray, a: np.ndarray) -> Costs:
        picked = self.grid[np.arange(self.n_layers), w, a].sum(axis=0)
        latency = float(picked[0]) + (self._switched(w, a)[1] if self.switches else 0.0)
        return Costs(latency, float(picked[1]), float(picked[2]), self.objective(w, a))

    def in_grid(self, policy: Policy) -> bool:
        """Whether every width of ``policy`` is one of the search's (else it is a reference,
        such as the int8 baseline of a search limited to 5 bits)."""
        wb, ab = set(self.weight_bits), set(self.activation_bits)
        return all(policy[n].weight_bits in wb and policy[n].activation_bits in ab for n in self.names)

    def policy_costs(self, policy: Policy) -> Costs:
        """Totals of ``policy``: from the grid, or from the cost model for widths outside it."""
        if self.in_grid(policy):
            return self.costs(*self.to_index(policy))
        totals = {"latency": 0.0, "energy": 0.0}
        for latency, energy in self.layer_costs(policy):
            totals["latency"] += latency
            totals["energy"] += energy
        size = sum(c * policy[n].weight_bits / 8 / 1e6 for n, c in zip(self.names, self.weight_counts))
        values = {"latency": totals["latency"], "energy": totals["energy"], "size": size}
        if len(self.weights) > 1:
            int8 = {"latency": self.int8.latency_ms, "energy": self.int8.energy_mj, "size": self.int8.size_mb}
            objective = sum(w * values[k] / int8[k] for k, w in self.weights.items())
        else:
            objective = values[next(iter(self.weights))]
        return Costs(values["latency"], values["energy"], size, float(objective))

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
        if self.switches:
            return self._fit_with_switches(w, a)
        rows = np.arange(self.n_layers)
        g = self.objective_grid
        while not self.fits(w, a):
            now = g[rows, w, a]
            save_w = np.where(w > 0, now - g[rows, np.maximum(w - 1, 0), a], -np.inf)
            save_a = np.where(a > 0, now - g[rows, w, np.maximum(a - 1, 0)], -np.inf)
            both = np.stack([save_w, save_a], axis=1)  # (layer, w/a)
            best = int(np.argmax(both))
            if not both.flat[best] > 0:
                na = len(self.activation_bits)
                return self.cheapest // na, self.cheapest % na
            layer, which = divmod(best, 2)
            if which == 0:
                w[layer] -= 1
            else:
                a[layer] -= 1
        return w, a

    def _fit_with_switches(self, w: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``fit`` where a layer's cost depends on its consumers' widths: each step's saving is
        the whole objective's, so lowering a consumer's activations to an integer width counts
        what it saves the layer before it (same order and ties as ``fit``)."""
        while not self.fits(w, a):
            now = self.objective(w, a)
            best, best_save = None, 0.0
            for layer in range(self.n_layers):
                for which in (w, a):
                    if which[layer] == 0:
                        continue
                    which[layer] -= 1
                    save = now - self.objective(w, a)
                    which[layer] += 1
                    if save > best_save:
                        best, best_save = (which, layer), save
            if best is None:
                na = len(self.activation_bits)
                return self.cheapest // na, self.cheapest % na
            best[0][best[1]] -= 1
        return w, a
