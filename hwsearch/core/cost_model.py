"""The ``CostModel`` interface: what a hardware target charges for a layer at given bits.

Every target (simulated accelerator, measured table, HAQ's reference table) answers one
question, ``cost(spec, w_bits, a_bits)``. Whole-model cost is the *sum* over layer
executions: it ignores overlap between layers (pipelining, prefetching the next layer's
weights while this one computes), fusion of elementwise ops, and the cost of the
non-quantizable ops (pooling, additions, activations) -- the same simplification HAQ's
lookup tables make. The search costs thousands of policies, so ``cost_array`` precomputes a
(layer, w, a) grid once and ``policy_cost`` is then a numpy gather.
"""

from __future__ import annotations

import math

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hwsearch.core.graph import LayerSpec
from hwsearch.core.policy import FLOAT_BITS, MAX_BITS, MIN_BITS, Policy

#: Widths ``policy_cost`` precomputes: every integer width plus float.
ALL_BITS: tuple[int, ...] = (*range(MIN_BITS, MAX_BITS + 1), FLOAT_BITS)


class TableError(ValueError):
    """A table (or a lookup in it) is unusable; the message names the row, column or shape."""


class UnknownTargetError(KeyError, ValueError):
    """No target of that name; the message lists the names that exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer execution. ``bound`` says which roof limited it."""

    latency_ms: float
    energy_mj: float
    bound: str = "compute"  # "compute", "memory" or "table" (measured: unknown)


@dataclass(frozen=True)
class ModelCost:
    """Cost of a whole policy: totals are the plain sum of ``layers``."""

    latency_ms: float
    energy_mj: float
    layers: list[LayerCost] = field(default_factory=list)


BOUND_NAMES = ("compute", "memory", "table")


@dataclass(frozen=True)
class Fallback:
    """One execution of a layer whose integer kernel runs only while each of ``consumers``
    quantizes its input: once one takes a float input, nothing requantizes the output and the
    runtime runs the layer in float, at ``latency_ms``, whatever its integer widths. The one
    cost that depends on two layers' widths (a measured runtime's format switch)."""

    spec: LayerSpec
    consumers: tuple[str, ...]
    latency_ms: float

    def applies(self, policy: Policy) -> bool:
        """Whether ``policy`` makes this layer fall back to float."""
        own = policy[self.spec.name]
        integer = own.weight_bits <= MAX_BITS and own.activation_bits <= MAX_BITS
        return integer and any(policy[c].activation_bits > MAX_BITS for c in self.consumers if c in policy)


@dataclass(frozen=True)
class Entry:
    """One execution of a layer that, run in float (either width above ``MAX_BITS``) while
    any of ``consumers`` quantizes its input, costs ``latency_ms`` more than its own entry: the
    way back into integer kernels (a QuantizeLinear, layout changes, ops between the two left
    outside either kernel's layout), measured on the whole model; >= 0."""

    spec: LayerSpec
    consumers: tuple[str, ...]
    latency_ms: float

    def applies(self, policy: Policy) -> bool:
        """Whether ``policy`` runs this layer in float into an integer consumer."""
        own = policy[self.spec.name]
        in_float = own.weight_bits > MAX_BITS or own.activation_bits > MAX_BITS
        return in_float and any(policy[c].activation_bits <= MAX_BITS for c in self.consumers if c in policy)


def check_cost_bits(bits: int, what: str) -> int:
    """Validate one operand width (2..8 or 32) with a message naming ``what``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"{what}: bits must be an integer, got {bits!r}")
    bits = int(bits)
    if bits != FLOAT_BITS and not 1 <= bits <= 16:
        raise ValueError(f"{what}: bits must be 1..16 or {FLOAT_BITS} (float), got {bits}")
    return bits


class CostModel(ABC):
    """A hardware target. Subclasses implement ``_grid``; everything else is shared."""

    name: str = "?"
    description: str = ""
    units: dict[str, str] = {"latency": "ms", "energy": "mJ"}
    batch: int = 1
    #: None: every width 2..8 has a kernel; else the sorted widths that really exist.
    supported_bits: list[int] | None = None
    #: Whether 32 (float) can be costed.
    has_float: bool = True
    #: Wider-than-integer formats the target really has kernels for (16 = half, 32 = float):
    #: a search offers them by default. Simulated integer accelerators have none.
    float_formats: tuple[int, ...] = ()

    def __init__(self) -> None:
        self._array_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    @abstractmethod
    def _grid(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Costs on the broadcast grid of ``w_bits`` x ``a_bits``.

        Returns (latency_ms, energy_mj, bound_code) arrays of the broadcast shape, with
        bound_code an index into ``BOUND_NAMES``.
        """

    def fallbacks(self, specs: Sequence[LayerSpec]) -> list[Fallback]:
        """The executions of ``specs`` whose cost depends on their consumers' widths (none here:
        a target whose layers cost the same whatever their neighbours run)."""
        return []

    def entries(self, specs: Sequence[LayerSpec]) -> list[Entry]:
        """The executions of ``specs`` that cost more in float when a consumer is integer
        (none here: switching formats is free on this target)."""
        return []

    def cost(self, spec: LayerSpec, w_bits: int, a_bits: int) -> LayerCost:
        """Latency (ms) and energy (mJ) of one execution of ``spec`` at the given bits."""
        w = check_cost_bits(w_bits, f"layer {spec.name!r} weight_bits")
        a = check_cost_bits(a_bits, f"layer {spec.name!r} activation_bits")
        lat, en, bound = self._grid(spec, np.array([[w]]), np.array([[a]]))
        if math.isnan(lat[0, 0]):
            raise TableError(self._cannot_cost(f"w_bits={w_bits}, a_bits={a_bits}"))
        return LayerCost(float(lat[0, 0]), float(en[0, 0]), BOUND_NAMES[int(bound[0, 0])])

    def _cannot_cost(self, what: str) -> str:
        """Why a width has no latency here (NaN in the grid); table targets say which widths exist."""
        return f"target {self.name!r} cannot cost {what}"

    def cost_array(self, specs: Sequence[LayerSpec], bits: Iterable[int] = range(MIN_BITS, MAX_BITS + 1)) -> np.ndarray:
        """[layer, w index, a index, (latency_ms, energy_mj)] for every pair of ``bits``.

        The search builds this once per model and then costs policies by indexing it.
        """
        values, _ = self._arrays(tuple(specs), tuple(int(b) for b in bits))
        return values.copy()

    def _arrays(self, specs: tuple[LayerSpec, ...], bits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        key = (specs, bits)
        cached = self._array_cache.get(key)
        if cached is not None:
            return cached
        for b in bits:
            check_cost_bits(b, "cost_array bits")
        b = np.array(bits)
        values = np.empty((len(specs), len(bits), len(bits), 2), dtype=np.float64)
        bounds = np.empty((len(specs), len(bits), len(bits)), dtype=np.int8)
        for i, spec in enumerate(specs):
            lat, en, bound = self._grid(spec, b[:, None], b[None, :])
            values[i, :, :, 0] = lat
            values[i, :, :, 1] = en
            bounds[i] = bound
        if len(self._array_cache) > 32:
            self._array_cache.clear()
        self._array_cache[key] = (values, bounds)
        return values, bounds

    def policy_cost(self, specs: Sequence[LayerSpec], policy: Policy) -> ModelCost:
        """Cost of every layer execution under ``policy`` and their sum.

        A module executed several times (``spec.call`` > 0) is charged for each execution
        at the bits its name gets in the policy; a layer that falls back to float because a
        consumer takes a float input (``fallbacks``) at its float cost; a float layer whose
        consumer takes an integer input (``entries``) with the cost of that switch added.
        """
        values, bounds = self._arrays(tuple(specs), ALL_BITS)
        index = {b: i for i, b in enumerate(ALL_BITS)}
        missing = sorted({s.name for s in specs if s.name not in policy})
        if missing:
            raise ValueError(f"policy has no bits for layers {missing}")
        wi = np.fromiter((index[policy[s.name].weight_bits] for s in specs), dtype=np.intp, count=len(specs))
        ai = np.fromiter((index[policy[s.name].activation_bits] for s in specs), dtype=np.intp, count=len(specs))
        rows = np.arange(len(specs))
        picked = values[rows, wi, ai]
        picked_bounds = bounds[rows, wi, ai]
        layers = [LayerCost(float(l), float(e), BOUND_NAMES[int(b)]) for (l, e), b in zip(picked, picked_bounds)]
        applied = [f for f in self.fallbacks(specs) if f.applies(policy)]
        entered = [e for e in self.entries(specs) if e.applies(policy)]
        position = {id(s): i for i, s in enumerate(specs)} if applied or entered else {}
        for fallback in applied:
            i = position[id(fallback.spec)]
            picked[i, 0] = fallback.latency_ms
            layers[i] = LayerCost(fallback.latency_ms, layers[i].energy_mj, layers[i].bound)
        for entry in entered:
            i = position[id(entry.spec)]
            picked[i, 0] += entry.latency_ms
            layers[i] = LayerCost(float(picked[i, 0]), layers[i].energy_mj, layers[i].bound)
        total = picked.sum(axis=0)
        if math.isnan(total[0]):
            bad = sorted({s.name for s, c in zip(specs, layers) if math.isnan(c.latency_ms)})
            raise TableError(self._cannot_cost(f"the bits of layers {bad}"))
        return ModelCost(float(total[0]), float(total[1]), layers)

    def info(self) -> dict:
        """A JSON-able summary for listings and the API."""
        return {
            "name": self.name,
            "description": self.description,
            "units": dict(self.units),
            "batch": self.batch,
            "supported_bits": self.supported_bits,
            "float_formats": list(self.float_formats),
            "float": self.has_float,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} batch={self.batch}>"
