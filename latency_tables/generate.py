"""Generate a simulated target's lookup table for a model (``hwsearch hardware build``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hwsearch.core.graph import LayerSpec
from hwsearch.core.cost_model import ALL_BITS, BOUND_NAMES, CostModel
from latency_tables.registry import SIMULATED, data_dir, generator_tag
from latency_tables.table import format_table


def simulated_table_text(target: CostModel, specs: Sequence[LayerSpec], model: str) -> str:
    """Every distinct shape of ``specs`` at every pair of widths 2..8 and 32."""
    unique = list({s.shape_key: s for s in specs}.values())
    values, bounds = target._arrays(tuple(unique), ALL_BITS)
    rows = []
    for i, spec in enumerate(unique):
        for wi, w in enumerate(ALL_BITS):
            for ai, a in enumerate(ALL_BITS):
                lat, en = values[i, wi, ai]
                rows.append((spec.shape_key, w, a, float(lat), float(en), BOUND_NAMES[int(bounds[i, wi, ai])]))
    extra = {"model": model, "description": target.description}
    return format_table(target.name, target.batch, list(ALL_BITS), rows, generator_tag(target.name), extra)


def default_table_path(target: str, model: str) -> Path:
    """``latency_tables/data/<target>__<model>.csv``: one file per target and model family."""
    return data_dir() / f"{target}__{model}.csv"


def build_table(target_name: str, specs: Sequence[LayerSpec], model: str, out: str | Path | None = None, batch: int | None = None) -> Path:
    """Write the table of a simulated target for ``specs``; return its path."""
    if target_name not in SIMULATED:
        raise ValueError(f"only simulated targets can be built ({', '.join(SIMULATED)}); measure others")
    target = SIMULATED[target_name]() if batch is None else SIMULATED[target_name](batch=batch)
    path = Path(out) if out else default_table_path(target_name, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(simulated_table_text(target, specs, model), encoding="utf-8")
    return path
