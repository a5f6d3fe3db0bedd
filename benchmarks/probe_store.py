"""Accuracies measured once and shared between a benchmark's runs.

A policy's accuracy depends only on the model, its weights and the images it is scored
on, never on the target, objective, budget or agent. ``ilp`` and ``greedy`` both start by
probing every decision one width below the widest policy
(``agents.baselines.measure_sensitivity``): on the 53-layer ``fashion-mobilenetv2`` that is
hundreds of evaluations, identical in every cell of a grid. ``ProbeStore`` keeps them on
disk so a grid measures them once; each run that was given them records how many, and
which run measured them, so its wall time reads as its own work only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hwsearch.core.policy import Policy
from hwsearch.core.run import SearchCallback

#: agents whose first step is ``measure_sensitivity`` (the probes a store shares)
PROBING_AGENTS = frozenset({"ilp", "greedy"})


class Preload(SearchCallback):
    """Fills the run's scorer cache with accuracies already measured; the search itself is
    unchanged (the same policy on the same images scores the same), only faster."""

    def __init__(self, entries: list[tuple[Policy, float]]) -> None:
        self.entries = list(entries)
        self.problem = None

    def init_callback(self, run) -> None:
        super().init_callback(run)
        self.problem = run.problem
        if self.entries and list(self.entries[0][0]) != list(self.problem.names):
            raise ValueError("preloaded accuracies of another model's layers")
        self.problem.scorer.preload(self.entries)


def is_probe(problem, policy: Policy) -> bool:
    """A sensitivity probe: at most one decision below the widest width."""
    if not problem.costing.in_grid(policy):
        return False
    w, a = problem.to_index(policy)
    top_w, top_a = problem.top
    return int((w != top_w).sum() + (a != top_a).sum()) <= 1


class ProbeStore:
    """The probes of one model scored on one image count, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict:
        if not self.path.exists():
            return {"layers": [], "probes": [], "sources": {}}
        return json.loads(self.path.read_text())

    def load(self) -> tuple[list[tuple[Policy, float]], dict[str, float]]:
        """The stored (policy, accuracy) probes, and run key -> wall seconds of the runs that measured them."""
        data = self._read()
        names = data["layers"]
        probes = [(Policy({n: tuple(bits) for n, bits in zip(names, rows)}), acc) for rows, acc in data["probes"]]
        return probes, data["sources"]

    def add(self, problem, source: str, wall_s: float) -> int:
        """Store the probes ``problem``'s scorer measured that the file lacks; how many were new."""
        data = self._read()
        names = list(problem.names)
        if data["layers"] and data["layers"] != names:
            raise ValueError(f"{self.path}: probes of another model's layers")
        known = {json.dumps(rows) for rows, _ in data["probes"]}
        scorer, new = problem.scorer, 0
        for policy in scorer.order:
            if not is_probe(problem, policy):
                continue
            rows = [[policy[n].weight_bits, policy[n].activation_bits] for n in names]
            if json.dumps(rows) not in known:
                data["probes"].append([rows, scorer.cache[policy]])
                new += 1
        if new:
            data["layers"] = names
            data["sources"][source] = round(wall_s, 1)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)  # a grid stopped mid-write keeps the previous file
        return new
