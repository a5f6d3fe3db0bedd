"""Table-backed targets: answer from a table, fall back to a simulator or fail clearly.

Simulated targets read their generated tables first and compute unseen shapes; a
table-only (measured or user) target has no simulator, so an unseen shape raises a
``TableError`` naming it. Widths a measured runtime has no kernel for run on the next
wider kernel that exists (what a deployment would do), and ``supported_bits`` tells the
search which widths are real.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hwsearch.core.graph import LayerSpec
from hwsearch.core.policy import FLOAT_BITS, MAX_BITS
from hwsearch.core.cost_model import CostModel, Entry, Fallback, TableError
from latency_tables.table import Table, parse_table


class TableTarget(CostModel):
    """A target backed by one or more tables of the same target and batch."""

    def __init__(
        self,
        tables: list[Table],
        name: str | None = None,
        description: str | None = None,
        fallback: CostModel | None = None,
    ) -> None:
        super().__init__()
        if not tables:
            raise TableError("no tables given")
        first = tables[0]
        for t in tables[1:]:
            if t.batch != first.batch or t.bits != first.bits or t.has_energy != first.has_energy:
                raise TableError(f"tables for {first.target!r} disagree on batch, bits or energy units")
        self.name = name or first.target
        self.description = description or first.meta.get("description", f"table-backed target {first.target!r}")
        self.batch = first.batch
        self.bits = list(first.bits)
        self.fallback = fallback
        self.units = {"latency": "ms", "energy": "mJ" if first.has_energy else "n/a"}
        self.costs: dict[str, np.ndarray] = {}
        self.bounds: dict[str, np.ndarray] = {}
        self.float_layers: dict[tuple[str, str], float | None] = {}
        self.requantized_by: dict[tuple[str, str], tuple[tuple[str, ...], float | None]] = {}
        self.float_to_integer: dict[tuple[str, str], tuple[tuple[str, ...], float]] = {}
        for t in tables:
            self.costs.update(t.costs)
            self.bounds.update(t.bounds)
            self.float_layers.update(t.float_layers)
            self.requantized_by.update(t.requantized_by)
            self.float_to_integer.update(t.float_to_integer)
        full = set(range(2, MAX_BITS + 1)) <= set(self.bits)
        self.supported_bits = None if (full or fallback is not None) else [b for b in self.bits if b <= MAX_BITS]
        # a measured table's fp32 (or fp16) columns are real kernels; a simulator's table has none
        self.float_formats = () if fallback is not None else tuple(b for b in self.bits if b > MAX_BITS)

    def _column(self, b: int) -> int | None:
        """Index of the narrowest table width >= b (a kernel that can run b bits)."""
        for i, width in enumerate(self.bits):
            if width >= b:
                return i
        return None

    def _grid(self, spec: LayerSpec, w_bits: np.ndarray, a_bits: np.ndarray):
        key = spec.shape_key
        w_arr, a_arr = np.broadcast_arrays(np.asarray(w_bits), np.asarray(a_bits))
        exact = np.isin(w_arr, self.bits) & np.isin(a_arr, self.bits)
        if key not in self.costs or (self.fallback is not None and not exact.all()):
            if self.fallback is not None:
                return self.fallback._grid(spec, w_arr, a_arr)
            raise TableError(
                f"target {self.name!r} has no table row for layer {spec.name!r} with shape {key} "
                f"(batch {self.batch}); measure it or add the shape to the table"
            )
        table, bounds = self.costs[key], self.bounds[key]
        lat = np.full(w_arr.shape, np.nan)
        en = np.full(w_arr.shape, np.nan)
        bound = np.full(w_arr.shape, 2, dtype=np.int8)
        # a layer the runtime leaves in float (its output is not requantized) runs a float kernel
        # at integer widths too: its int8 entry would price a kernel that never runs. It costs
        # what it was timed at in place (float kernel, quantize/dequantize around it), else fp32.
        runs_float = (spec.name, key) in self.float_layers
        in_place = self.float_layers.get((spec.name, key))
        for pos in np.ndindex(w_arr.shape):
            wi, ai = self._column(int(w_arr[pos])), self._column(int(a_arr[pos]))
            if wi is None or ai is None:
                continue  # no kernel wide enough: NaN here, an error from cost()
            in_float = runs_float and self.bits[wi] <= MAX_BITS and self.bits[ai] <= MAX_BITS
            if in_float:
                wi = ai = self.bits.index(FLOAT_BITS)
            lat[pos], en[pos] = table[wi, ai]
            if in_float and in_place is not None:
                lat[pos] = in_place
            bound[pos] = bounds[wi, ai]
        return lat, en, bound

    def fallbacks(self, specs: Sequence[LayerSpec]) -> list[Fallback]:
        """The layers the table says run an integer kernel only while the layers after them
        quantize their input (header ``requantized-by``), each with what it costs in float in
        place: its timed latency, else its shape's fp32 entry."""
        out = []
        for spec in specs:
            entry = self.requantized_by.get((spec.name, spec.shape_key))
            if entry is None or spec.shape_key not in self.costs:
                continue
            consumers, in_place = entry
            if in_place is None:
                column = self.bits.index(FLOAT_BITS)
                in_place = float(self.costs[spec.shape_key][column, column, 0])
            out.append(Fallback(spec, consumers, in_place))
        return out

    def entries(self, specs: Sequence[LayerSpec]) -> list[Entry]:
        """The layers the table prices for running in float into an integer consumer (header
        ``float-to-integer``), once per layer: the whole-model timing it came from covers
        every execution."""
        out, seen = [], set()
        for spec in specs:
            key = (spec.name, spec.shape_key)
            if key in self.float_to_integer and key not in seen:
                seen.add(key)
                consumers, extra = self.float_to_integer[key]
                out.append(Entry(spec, consumers, extra))
        return out

    def _cannot_cost(self, what: str) -> str:
        return f"target {self.name!r} has no kernel for {what} (widths: {self.bits})"

    def info(self) -> dict:
        data = super().info()
        data["table_widths"] = self.bits
        data["shapes"] = len(self.costs)
        return data


def load_table_target(path: str | Path, name: str | None = None) -> TableTarget:
    """A table-only target from a user's table file (validated on load)."""
    return TableTarget([parse_table(Path(path))], name=name)


__all__ = ["TableTarget", "load_table_target", "FLOAT_BITS"]
