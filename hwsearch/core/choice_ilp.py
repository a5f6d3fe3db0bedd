"""One option per layer, best total under a budget: the exact integer program the ILP agents,
the Fisher agent and ``Costing``'s cheapest-policy check all solve (``scipy.optimize.milp``).

Most costs are additive (an option's cost is its own), but a measured runtime has one that
is not: a layer's integer kernel runs only while the layers after it quantize their input
(``PairCost``). Each such pair gets a continuous variable forced to the AND of the two
choices, so the program stays exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairCost:
    """Extra ``cost`` and ``predicted`` (per option of ``row``) charged when ``row`` picks that
    option and any of ``consumers`` picks an option in ``triggers`` (a bool mask over options)."""

    row: int
    consumers: tuple[int, ...]
    cost: np.ndarray
    predicted: np.ndarray
    triggers: np.ndarray


def solve_choices(
    predicted: np.ndarray,
    cost: np.ndarray,
    budget: float,
    exclude: Sequence[np.ndarray] = (),
    time_limit: float = 30.0,
    pairs: Sequence[PairCost] = (),
) -> np.ndarray | None:
    """Pick one option per row minimising ``sum predicted`` s.t. ``sum cost <= budget``.

    ``predicted`` and ``cost`` are ``[row, option]``; ``exclude`` lists earlier answers (option
    per row) that must not be returned again (no-good cuts); ``pairs`` adds the costs that
    depend on two rows' options. Returns the option index per row, or None if infeasible.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    nl, k = predicted.shape
    n = nl * k
    extra = [(p, o) for p in pairs for o in range(k) if p.cost[o] != 0 or p.predicted[o] != 0]
    total = n + len(extra)

    def row_of(entries: dict[int, float]) -> np.ndarray:
        out = np.zeros(total)
        for col, value in entries.items():
            out[col] += value
        return out

    rows = [np.hstack([np.kron(np.eye(nl), np.ones(k)), np.zeros((nl, len(extra)))])]
    lo, hi = [np.ones(nl)], [np.ones(nl)]
    budget_row = np.concatenate([cost.reshape(-1), [p.cost[o] for p, o in extra]])
    if np.isfinite(budget):
        rows.append(budget_row[None, :])
        lo.append([-np.inf])
        hi.append([budget])
    for j, (p, o) in enumerate(extra):
        y, x = n + j, p.row * k + o
        fires = {c * k + t: 1.0 for c in p.consumers for t in np.flatnonzero(p.triggers)}
        rows.append(row_of({y: 1.0, x: -1.0})[None, :])  # y <= x
        rows.append(row_of({y: 1.0, **{col: -1.0 for col in fires}})[None, :])  # y <= any consumer fires
        lo += [[-np.inf], [-np.inf]]
        hi += [[0.0], [0.0]]
        for c in p.consumers:  # y >= x + consumer c fires - 1
            rows.append(row_of({y: 1.0, x: -1.0, **{c * k + t: -1.0 for t in np.flatnonzero(p.triggers)}})[None, :])
            lo.append([-1.0])
            hi.append([np.inf])
    for old in exclude:
        cut = np.zeros((1, total))
        cut[0, np.arange(nl) * k + old] = 1
        rows.append(cut)
        lo.append([-np.inf])
        hi.append([nl - 1])
    objective = np.concatenate([predicted.reshape(-1), [p.predicted[o] for p, o in extra]])
    res = milp(
        objective,
        constraints=LinearConstraint(np.vstack(rows), np.concatenate(lo), np.concatenate(hi)),
        integrality=np.concatenate([np.ones(n), np.zeros(len(extra))]),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit},
    )
    if res.x is None:
        return None
    return np.round(res.x[:n]).reshape(nl, k).argmax(axis=1)
