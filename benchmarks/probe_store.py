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
import time
from pathlib import Path

from agents.baselines import sensitivity_probes
from hwsearch.core.policy import Policy
from hwsearch.core.run import SearchCallback
from hwsearch.search import build_problem

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
        preload(self.problem, self.entries)


def preload(problem, entries: list[tuple[Policy, float]]) -> None:
    """Enter ``entries`` in ``problem``'s scorer cache, refusing another model's policies."""
    if entries and list(entries[0][0]) != list(problem.names):
        raise ValueError("preloaded accuracies of another model's layers")
    problem.scorer.preload(entries)


def probe_path(out: Path, model: str, eval_samples: int | None) -> Path:
    """Where a grid under ``out`` keeps the probes of ``model`` scored on ``eval_samples`` images."""
    return out / "probes" / f"{model}__{eval_samples}.json"


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


def measure_probes(body: dict, store: ProbeStore, save_every: int = 10, limit: int | None = None) -> int:
    """Measure the probes of ``body``'s search space that ``store`` lacks, before any search,
    saving every ``save_every`` evaluations: on a deep network the pass outlasts a working
    session, and a search keeps nothing of it when stopped. ``limit`` stops after that many
    new evaluations. Returns how many probes it measured."""
    problem = build_problem(body)
    preload(problem, store.load()[0])
    scorer, start, measured = problem.scorer, time.perf_counter(), 0
    source = f"probe pass {time.strftime('%Y-%m-%d %H:%M')}"
    probes = [problem.uniform(*problem.top)] + [(w, a) for _, _, _, w, a in sensitivity_probes(problem)]
    for w, a in probes:
        if limit is not None and measured >= limit:
            break
        if problem.to_policy(w, a) in scorer.cache:
            continue
        problem.accuracy_of(w, a)
        measured += 1
        if measured % save_every == 0:
            store.add(problem, source, time.perf_counter() - start)
            print(f"probes: {len(scorer.cache)} of {len(probes)} measured ({time.perf_counter() - start:.0f} s)", flush=True)
    store.add(problem, source, time.perf_counter() - start)
    return measured
