"""Local refinement: a short hill climb around the best policy a search has found.

Why. An RL search's episodes scatter: on fashion-cnn at 0.25 x int8, DDPG's episodes still
average 85% in its last 30 (exploration never stops), and its best sits in whatever basin
it happened to reach. Episodes spent on the best's neighbours climb to that basin's top
(one fashion-cnn seed: from 88.6% to 91.45% on the search's images in 15 episodes). An
SB3 agent climbs once its learning has stalled (``climb_after_stall``, see ``agents.rl``;
DDPG's default).

Move. From the incumbent, raise one decision (a layer's weight or activation width) by one
width; if that overshoots the budget, lower another by one, and fit (``problem.fit``) what
still overshoots: a trade of bits between decisions at about the same cost (when the
budget has room for the raise alone, nothing is lowered). A neighbour is proposed (one episode) only
if its fitted policy is new to the search; it replaces the incumbent when it scores higher.
Deterministic given ``seed`` and the accuracies observed, as the agent interface requires.
"""

from __future__ import annotations

import numpy as np

from hwsearch.core.policy import Policy
from hwsearch.core.problem import SearchProblem
from hwsearch.core.run import SearchRun

#: Draws that yield only known policies before the climb gives up (its neighbourhood is exhausted).
MAX_TRIES = 200


def neighbour(problem: SearchProblem, w: np.ndarray, a: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random trade of one width between two decisions, fitted to the budget."""
    genome = np.concatenate([w, a])
    top = np.concatenate([np.full(len(w), problem.top[0]), np.full(len(a), problem.top[1])])
    up = np.flatnonzero(genome < top)
    if len(up) == 0:
        return w.copy(), a.copy()
    child = genome.copy()
    raise_at = int(rng.choice(up))
    child[raise_at] += 1
    down = np.flatnonzero((genome > 0) & (np.arange(len(genome)) != raise_at))
    nl = problem.n_layers
    if len(down) and not problem.fits(child[:nl], child[nl:]):
        child[int(rng.choice(down))] -= 1
    return problem.fit(child[:nl], child[nl:])


def next_start(run: SearchRun, used: set[Policy]) -> tuple[Policy, float] | None:
    """The most accurate policy the run measured that no climb started from yet."""
    fresh = [r for r in run.history if r.policy not in used]
    if not fresh:
        return None
    best = max(fresh, key=lambda r: r.accuracy)
    return best.policy, best.accuracy


def refine(
    run: SearchRun, start: Policy, start_accuracy: float, seen: set[Policy], seed: int, restarts: bool = False
) -> None:
    """Hill-climb from ``start`` until ``run.stopped``, or until ``MAX_TRIES`` draws in a row
    give only measured policies (the incumbent is then a local optimum). Then, with
    ``restarts``, climb again from the most accurate measured policy not yet a start, so the
    episodes left are spent; without, the search ends early.

    ``seen``: policies the search has already measured (the agent's own record, never
    the scorer's cache); it is extended with what the climb proposes.
    """
    problem = run.problem
    rng = np.random.default_rng([seed, 0x5EF1])
    w, a = problem.to_index(start)
    best = start_accuracy
    starts = {start}
    while not run.stopped:
        for _ in range(MAX_TRIES):
            cw, ca = neighbour(problem, w, a, rng)
            candidate = problem.to_policy(cw, ca)
            if candidate not in seen:
                break
        else:
            again = next_start(run, starts) if restarts else None
            if again is None:
                return
            starts.add(again[0])
            w, a = problem.to_index(again[0])
            best = again[1]
            continue
        outcome = run.propose(cw, ca)
        seen.add(outcome.policy)
        if outcome.accuracy > best:
            w, a = problem.to_index(outcome.policy)
            best = outcome.accuracy
