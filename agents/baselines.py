"""Non-RL searches on the same interface: uniform, random, greedy, ILP, evolution.

``greedy`` and ``ilp`` share a *sensitivity* measurement: starting from every layer at
the widest allowed width, each decision (a layer's weights, or its activations) alone is
set to each narrower width and the accuracy drop is measured. Under the *additive
sensitivity model* a policy's accuracy is the base accuracy minus the sum of its
decisions' drops. Probes are cached evaluations (counted in ``evaluations``), not episodes.
``ilp`` proposes the optima of that model through ``propose_additive``, which ``fisher``
(``agents.gradient``) shares with sensitivities from gradients instead of probes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from agents.base import Agent
from hwsearch.core.choice_ilp import solve_choices
from hwsearch.core.problem import SearchProblem
from hwsearch.core.run import SearchRun


class UniformAgent(Agent):
    """The best uniform policy that fits: every (w, a) pair applied to all layers that meets
    the budget and is maximal (no fitting pair is at least as wide in both)."""

    name = "uniform"
    seeded = False
    description = "best uniform (same bits on every layer) policy within the budget"

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        problem = run.problem
        nw, na = len(problem.weight_bits), len(problem.activation_bits)
        fitting = [(wi, ai) for wi in range(nw) for ai in range(na) if problem.fits(*_uniform_pair(problem, wi, ai))]
        maximal = [p for p in fitting if not any(q != p and q[0] >= p[0] and q[1] >= p[1] for q in fitting)]
        maximal.sort(key=lambda p: (-(p[0] + p[1]), -p[0]))
        if not maximal:  # a non-monotone table: the cheapest uniform pair, fitted
            maximal = [(0, 0)]
        for wi, ai in maximal:
            if run.stopped:
                return
            run.propose(*_uniform_pair(problem, wi, ai))


def _uniform_pair(problem: SearchProblem, wi: int, ai: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(problem.n_layers, wi, dtype=int), np.full(problem.n_layers, ai, dtype=int)


class RandomAgent(Agent):
    """Random search: each decision's width drawn uniformly, then fitted to the budget."""

    name = "random"
    description = "random widths per decision, fitted to the budget"

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        problem = run.problem
        rng = np.random.default_rng(seed)
        nw, na = len(problem.weight_bits), len(problem.activation_bits)
        while not run.stopped:
            run.propose(rng.integers(0, nw, problem.n_layers), rng.integers(0, na, problem.n_layers))


def sensitivity_probes(problem: SearchProblem) -> Iterator[tuple[str, int, int, np.ndarray, np.ndarray]]:
    """The widest policy's decisions lowered one at a time: ``(kind, layer, width index, w, a)``
    with kind ``"w"`` or ``"a"``, in the order ``measure_sensitivity`` measures them."""
    top_w, top_a = problem.top
    w0, a0 = problem.uniform(top_w, top_a)
    for layer in range(problem.n_layers):
        for b in range(max(top_w, top_a)):
            if b < top_w:
                w = w0.copy()
                w[layer] = b
                yield "w", layer, b, w, a0
            if b < top_a:
                a = a0.copy()
                a[layer] = b
                yield "a", layer, b, w0, a


def measure_sensitivity(problem: SearchProblem) -> tuple[float, np.ndarray, np.ndarray]:
    """Base accuracy (all at the widest widths) and drops ``[layer, width]`` for weights and
    activations (clamped at 0; 0 at the widest width)."""
    top_w, top_a = problem.top
    base = problem.accuracy_of(*problem.uniform(top_w, top_a))
    drops = {"w": np.zeros((problem.n_layers, top_w + 1)), "a": np.zeros((problem.n_layers, top_a + 1))}
    for kind, layer, b, w, a in sensitivity_probes(problem):
        drops[kind][layer, b] = max(0.0, base - problem.accuracy_of(w, a))
    return base, drops["w"], drops["a"]


class GreedyAgent(Agent):
    """Greedy sensitivity search: from the widest widths, repeatedly lower the decision that
    costs the least predicted accuracy per unit of objective saved, until the budget is met;
    then spend any slack raising the decision with the best accuracy gain per cost."""

    name = "greedy"
    seeded = False
    description = "greedy by measured per-layer sensitivity (least accuracy lost per cost saved)"

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        problem = run.problem
        _, drop_w, drop_a = measure_sensitivity(problem)
        tops = problem.top
        w, a = problem.uniform(*tops)
        rows = np.arange(problem.n_layers)
        g = problem.objective_grid
        eps = 1e-6
        while not problem.fits(w, a):
            now = g[rows, w, a]
            best, choice = -np.inf, None
            for layer in range(problem.n_layers):
                for which, (arr, drop) in enumerate(((w, drop_w), (a, drop_a))):
                    if arr[layer] == 0:
                        continue
                    ww, aa = (w[layer] - 1, a[layer]) if which == 0 else (w[layer], a[layer] - 1)
                    saved = now[layer] - g[layer, ww, aa]
                    if saved <= 0:
                        continue
                    lost = drop[layer, arr[layer] - 1] - drop[layer, arr[layer]]
                    score = saved / (max(lost, 0.0) + eps)
                    if score > best:
                        best, choice = score, (layer, which)
            if choice is None:
                break  # nothing lowers the cost: problem.fit falls back to the cheapest policy
            layer, which = choice
            (w if which == 0 else a)[layer] -= 1
        w, a = problem.fit(w, a)
        # fill the slack: raise what buys the most accuracy per cost while it still fits
        while True:
            best, choice = 0.0, None
            for layer in range(problem.n_layers):
                for which, (arr, drop) in enumerate(((w, drop_w), (a, drop_a))):
                    if arr[layer] >= tops[which]:
                        continue
                    ww, aa = (w.copy(), a.copy())
                    (ww if which == 0 else aa)[layer] += 1
                    if not problem.fits(ww, aa):
                        continue
                    gained = drop[layer, arr[layer]] - drop[layer, arr[layer] + 1]
                    extra = g[layer, ww[layer], aa[layer]] - g[layer, w[layer], a[layer]]
                    score = gained / max(extra, 1e-12)
                    if gained > 0 and score > best:
                        best, choice = score, (ww, aa)
            if choice is None:
                break
            w, a = choice
        if not run.stopped:
            run.propose(w, a)


class ILPAgent(Agent):
    """Exact optimum of the additive sensitivity model under the budget (``scipy.optimize.milp``).

    One binary variable per layer and (w, a) pair (so costs that are not additive in w and
    a, e.g. BISMO's w x a, are exact); minimise the predicted accuracy drop subject to
    one pair per layer and total objective <= budget. ``candidates`` (5) best distinct
    solutions (each excluded by a no-good cut for the next) are proposed, as the
    additive model is only a model."""

    name = "ilp"
    seeded = False
    description = "integer program: exact optimum of the additive sensitivity model"

    def __init__(self, candidates: int = 5, time_limit: float = 30.0) -> None:
        super().__init__()
        self.candidates = candidates
        self.time_limit = time_limit

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        _, drop_w, drop_a = measure_sensitivity(run.problem)
        propose_additive(run, drop_w, drop_a, min(self.candidates, episodes), self.time_limit)


def propose_additive(
    run: SearchRun, drop_w: np.ndarray, drop_a: np.ndarray, candidates: int, time_limit: float = 30.0,
    tie: float = 1e-7,
) -> None:
    """Propose the ``candidates`` best distinct optima of the additive model under the budget,
    best first: a policy's predicted loss is ``sum drop_w[layer, w] + drop_a[layer, a]``
    (``[layer, width]``, any unit: measured accuracy drops for ``ilp``, Fisher estimates
    for ``fisher``). ``tie``, in those units, breaks ties towards wider bits."""
    problem = run.problem
    nl, nw, na = problem.n_layers, len(problem.weight_bits), len(problem.activation_bits)
    predicted = (drop_w[:, :, None] + drop_a[:, None, :]).reshape(nl, -1)
    # tie-break towards wider bits (less risk outside the model) by a negligible amount
    widths = (np.arange(nw)[:, None] + np.arange(na)[None, :]).reshape(-1)
    predicted = predicted + tie * ((nw - 1) + (na - 1) - widths)[None, :]
    cost = problem.objective_grid.reshape(nl, -1)
    found: list[np.ndarray] = []
    for _ in range(candidates):
        if run.stopped:
            return
        chosen = solve_choices(predicted, cost, problem.budget * (1 - 1e-9), found, time_limit, problem.costing.pair_costs())
        if chosen is None:
            break
        found.append(chosen)
        run.propose(chosen // na, chosen % na)


class EvolutionAgent(Agent):
    """A steady-state genetic search: tournament selection, uniform crossover, +-1-width
    mutation, every child fitted to the budget; population seeded with random policies
    and the best fitting uniform pair. Options ``population`` (16), ``tournament`` (3)."""

    name = "evolution"
    description = "evolutionary search (tournament, crossover, mutation), children fitted to the budget"

    def __init__(self, population: int = 16, tournament: int = 3) -> None:
        super().__init__()
        self.population = population
        self.tournament = tournament

    def search(self, run: SearchRun, episodes: int, seed: int) -> None:
        problem = run.problem
        rng = np.random.default_rng(seed)
        nl = problem.n_layers
        nw, na = len(problem.weight_bits), len(problem.activation_bits)
        highs = np.concatenate([np.full(nl, nw), np.full(nl, na)])  # per gene: its kind's number of widths
        pop: list[tuple[float, np.ndarray]] = []  # (accuracy, genome = concat(w, a))
        seen: set = set()  # own record, not the scorer's cache: a resumed cache holds the future too

        def add(genome: np.ndarray) -> None:
            out = run.propose(genome[:nl], genome[nl:])
            seen.add(out.policy)
            w, a = problem.to_index(out.policy)
            pop.append((out.accuracy, np.concatenate([w, a])))
            pop.sort(key=lambda item: -item[0])
            del pop[self.population :]

        size = max(2, min(self.population, episodes // 3 or 1))
        uniform = next((b for b in range(max(nw, na) - 1, -1, -1) if problem.fits(*problem.uniform(min(b, nw - 1), min(b, na - 1)))), 0)
        add(np.concatenate(problem.uniform(min(uniform, nw - 1), min(uniform, na - 1))))
        while len(pop) < size and not run.stopped:
            add(rng.integers(0, highs))
        while not run.stopped:
            def pick() -> np.ndarray:
                idx = rng.choice(len(pop), size=min(self.tournament, len(pop)), replace=False)
                return pop[int(min(idx))][1]  # pop is sorted: the lowest index is the fittest

            p1, p2 = pick(), pick()
            for _ in range(10):
                child = np.where(rng.random(2 * nl) < 0.5, p1, p2)
                flips = rng.random(2 * nl) < 1.0 / nl
                flips[rng.integers(0, 2 * nl)] = True
                child = np.clip(child + flips * rng.choice([-1, 1], 2 * nl), 0, highs - 1)
                if problem.to_policy(*problem.fit(child[:nl], child[nl:])) not in seen:
                    break
            add(child)
