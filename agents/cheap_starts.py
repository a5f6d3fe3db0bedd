"""Cheap starts: a learning search's first episodes are the one-shot searches' answers.

Why. ``uniform`` costs one or a few evaluations and ``fisher`` (an ILP on gradient
sensitivities) a few backward passes and its handful of candidates; on HAQ's 53-layer
MobileNetV2 at 1/2 of int8 on haq-mobilenetv2, fisher's answer beat 300 episodes of DDPG
by a point on the test split (docs/benchmarks.md). Proposing those answers first makes
the search's best at least as good as theirs on the search's own images, and gives the
climb that ends a stalled search (``agents.refine``) a good place to restart from. The
search's closing confirmation measures them too (``SearchRun.confirm_also``): the top few
by the search's own images are partly luck, and a start outside them could be the better
policy on more images (it was, on MobileNetV2: docs/benchmarks.md).

``measure_sensitivity``'s ILP (``ilp``) is not among them: its probes are layers x widths
evaluations, about as many as the search's episodes on a deep network.
"""

from __future__ import annotations

from agents.baselines import UniformAgent
from hwsearch.core.records import EvaluatedPolicy
from hwsearch.core.run import SearchRun


class _Capped:
    """The run as an agent sees it, stopped after ``limit`` proposals (the starts' share)."""

    def __init__(self, run: SearchRun, limit: int) -> None:
        self.run, self.limit = run, limit
        self.problem = run.problem
        self.records: list[EvaluatedPolicy] = []

    @property
    def stopped(self) -> bool:
        return self.run.stopped or len(self.records) >= self.limit

    def propose(self, w, a) -> EvaluatedPolicy:
        """One episode, unless an earlier start is the same policy (fisher's answer may be
        a uniform one): no episode is spent twice on it."""
        policy = self.problem.to_policy(*self.problem.fit(w, a))
        for record in self.records:
            if record.policy == policy:
                return record
        record = self.run.propose(w, a)
        self.records.append(record)
        return record


def propose_cheap_starts(run: SearchRun, limit: int, seed: int) -> list[EvaluatedPolicy]:
    """Propose up to ``limit`` episodes: the maximal uniform policies that fit, widest first,
    then the fisher ILP's best distinct answers (skipped when the problem carries no model
    and data set). Returns the episodes proposed, in order."""
    capped = _Capped(run, limit)
    if limit <= 0:
        return capped.records
    UniformAgent().search(capped, limit, seed)
    left = limit - len(capped.records)
    problem = run.problem
    if left > 0 and not capped.stopped and problem.model is not None and problem.dataset is not None:
        from agents.gradient import FisherAgent  # torch.func: only when it is used

        FisherAgent(candidates=left).search(capped, left, seed)
    run.confirm_also.update(record.policy for record in capped.records)
    return capped.records
