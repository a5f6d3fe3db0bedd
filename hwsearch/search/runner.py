"""``run_search``: run a ``SearchSpec`` to a ``SearchResult``.

The runner builds the problem once, puts the callbacks on a ``SearchRun`` (best
tracking or robust selection, cancellation, checkpoint, progress), lets the agent
propose episodes, then confirms the best on unused validation images, fine-tunes it if
asked, and assembles the result with the per-layer costs of every policy it stores.
A cancel is honoured inside the fine-tune and the attacks too (the job keeps its best).
Resuming from a checkpoint is ``hwsearch.search.checkpoint``'s business.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents import get_agent
from hwsearch.core.cost_model import TableError
from hwsearch.core.costing import Costing
from hwsearch.core.graph import float_weights
from hwsearch.core.policy import Policy
from hwsearch.core.problem import SearchProblem
from hwsearch.core.records import EvaluatedPolicy, FinetuneResult, LayerTotals, SearchProgress
from hwsearch.core.run import Cancelled, SearchCallback, SearchRun, cancel_check
from hwsearch.core.spec import SearchSpec, SpecError, spec_from_dict
from hwsearch.evaluate import accuracy, finetune
from hwsearch.core.device import model_device
from hwsearch.finetuned_weights import load_into, weights_bytes
from hwsearch.quant import QuantizedModel
from hwsearch.robust.lipschitz import lipschitz_loss
from hwsearch.search.callbacks import BestTracker, CancelPoll, ProgressReport, RobustSelection
from hwsearch.search.checkpoint import Checkpoint, CheckpointStore, FileCheckpointStore, load_checkpoint
from hwsearch.search.confirm import confirm_history
from hwsearch.search.problem import build_costing, build_problem
from hwsearch.search.result import SearchResult, layer_infos
from hwsearch.search.robust import RobustEvaluator


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pareto_front(points: list[EvaluatedPolicy]) -> list[EvaluatedPolicy]:
    """Non-dominated points: higher accuracy, lower latency, lower energy (missing energy ignored)."""

    def key(p: EvaluatedPolicy) -> tuple[float, float, float]:
        return (-p.accuracy, p.latency_ms, 0.0 if p.energy_mj is None else p.energy_mj)

    keyed = sorted(((key(p), p) for p in points), key=lambda kp: kp[0])
    front: list[tuple[tuple[float, float, float], EvaluatedPolicy]] = []
    for k, p in keyed:
        dominated = any(all(f <= g for f, g in zip(fk, k)) and fk != k for fk, _ in front)
        duplicate = any(fk == k for fk, _ in front)
        if not dominated and not duplicate:
            front.append((k, p))
    return sorted((p for _, p in front), key=lambda p: p.latency_ms)


def _selection(problem: SearchProblem) -> BestTracker:
    """Plain best tracking, or the robust selection when the spec has a ``robust`` block."""
    if problem.spec.robust is None:
        return BestTracker()
    evaluator = RobustEvaluator(problem)
    if evaluator.every_episode:  # asked for: attack every candidate
        problem.reward_terms.append(evaluator.reward_of)
    return RobustSelection(evaluator)


def run_search(
    spec: SearchSpec | dict[str, Any],
    progress: Callable[[SearchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_dir: str | Path | None = None,
    agent_options: dict[str, Any] | None = None,
    uniform_bits: Iterable[int] = (),
    callbacks: Iterable[SearchCallback] = (),
    costing: Costing | None = None,
    checkpoint: CheckpointStore | None = None,
    checkpoint_identity: dict[str, Any] | None = None,
) -> SearchResult:
    """Run one search.

    ``progress`` is called after every episode; ``should_stop()`` is polled after every
    episode and, when true, the search stops and returns what it has with
    ``cancelled=True``. ``checkpoint_dir``: checkpoint there, resume from it if present.
    ``checkpoint``: the same in any ``CheckpointStore`` (the service's is its database);
    ``checkpoint_identity``: the spec the checkpoint must match (default: ``spec`` itself;
    the service gives the job's spec as submitted, free of machine-specific paths).
    ``agent_options`` go to the agent's constructor (e.g. ``{"warmup_episodes": 5}``;
    ``{"tensorboard_log": DIR}`` for RL agents). ``uniform_bits``: also measure these
    uniform policies as reference points (``SearchResult.uniform``; not counted as
    evaluations). ``callbacks`` run after the built-in ones. ``costing``: the spec's, when
    the caller already validated it (``validate_spec`` returns it), so it is not built twice.
    """
    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    costing = costing or build_costing(spec)
    if checkpoint is None and checkpoint_dir:
        checkpoint = FileCheckpointStore(checkpoint_dir)
    identity = checkpoint_identity or spec.model_dump(mode="json")
    prior = load_checkpoint(checkpoint, identity) if checkpoint is not None else None
    seed_everything(spec.seed)
    problem = build_problem(spec, costing)
    tracker = _selection(problem)
    hooks: list[SearchCallback] = [tracker]
    if should_stop is not None:
        hooks.append(CancelPoll(should_stop))
    checkpointer = Checkpoint(checkpoint, identity, tracker, prior) if checkpoint is not None else None
    if checkpointer is not None:
        hooks.append(checkpointer)
    if progress is not None:
        hooks.append(ProgressReport(progress, tracker))
    run = SearchRun(problem, spec.episodes, [*hooks, *callbacks])
    check = cancel_check(should_stop)
    evaluator = tracker.evaluator if isinstance(tracker, RobustSelection) else None
    int8 = Policy.uniform(problem.names, 8)
    int8_acc = problem.accuracy(int8)
    try:
        agent = get_agent(spec.agent, **{**spec.agent_options, **(agent_options or {})})
    except ValueError as exc:
        raise SpecError("agent", str(exc)) from None
    seed_everything(spec.seed)
    if evaluator is not None:
        evaluator.check = check  # a cancel stops an attack between batches
    try:
        agent.search(run, spec.episodes, spec.seed)
    except Cancelled:  # asked to stop inside an episode's robust evaluation
        run.cancelled = True
    run.end()

    best = tracker.best
    if best is None:  # cancelled before the first episode finished
        run.cancelled = True
        best = problem.evaluated(int8, int8_acc, problem.int8)
    confirmation = None
    if tracker.confirms and run.history and not run.cancelled:
        confirmed = confirm_history(problem, run.history, run.confirm_also)
        if confirmed is not None:
            best, confirmation = confirmed
    finetuned, finetuned_weights = None, None
    if spec.finetune_steps > 0 and not run.cancelled:
        try:
            finetuned, finetuned_weights = _finetune(problem, best, spec, evaluator, check)
        except Cancelled:  # the job keeps its best policy, without the fine-tune
            run.cancelled = True
    uniform = [] if run.cancelled else _uniform_references(problem, uniform_bits, check)
    scorer = problem.scorer
    episode_of: dict[Policy, int] = {}
    for rec in run.history:
        episode_of.setdefault(rec.policy, rec.episode)
    points = [  # the search's own policies (not references outside its widths, e.g. int8 under --max-bits 5)
        problem.evaluated(p, scorer.cache[p], problem.policy_costs(p), episode=episode_of.get(p))
        for p in scorer.order
        if problem.costing.in_grid(p)
    ]

    def stored(point: EvaluatedPolicy) -> EvaluatedPolicy:
        layers = tuple(LayerTotals(latency_ms=lat, energy_mj=en) for lat, en in costing.layer_costs(point.policy))
        return tracker.annotate(point).model_copy(update={"layers": layers})

    if evaluator is not None:
        evaluator.check = None  # the best is always stored with its robust accuracy
    best_stored = stored(best)
    if evaluator is not None:
        evaluator.check = check
    front: list[EvaluatedPolicy] = []
    try:
        for point in pareto_front(points):
            front.append(stored(point))
    except Cancelled:  # the front keeps the points already attacked
        run.cancelled = True
    if evaluator is not None:
        evaluator.check = None  # the summary's float reference is one attack, always made
    if checkpointer is not None:
        checkpointer.write_end(finished=not run.cancelled, best=best)

    return SearchResult(
        spec=spec,
        best=best_stored,
        pareto=front,
        history=run.history,
        float_accuracy=problem.float_accuracy,
        baseline_int8=problem.evaluated(int8, int8_acc, problem.int8),
        evaluations=scorer.evaluations,
        wall_time_s=run.elapsed(),
        cancelled=run.cancelled,
        finetune=finetuned,
        finetuned_weights=finetuned_weights,
        budget=problem.budget,
        unit=problem.unit,
        eval_seconds=scorer.stats.eval_seconds,
        robustness=tracker.summary(),
        confirmation=confirmation,
        layers=layer_infos(costing.specs),
        uniform=uniform,
        unquantized=[vars(w) for w in float_weights(problem.model)],
        weight_bits=costing.weight_bits,
        activation_bits=costing.activation_bits,
        device=str(model_device(problem.model)) if problem.model is not None else "cpu",
    )


def _uniform_references(
    problem: SearchProblem, widths: Iterable[int], check: Callable[[], None]
) -> list[EvaluatedPolicy]:
    """Uniform policies at ``widths`` the target can cost, measured like the search's (uncached);
    a cancel keeps those already measured."""
    out = []
    for bits in widths:
        try:
            check()
        except Cancelled:
            break
        try:
            costs = problem.costing.uniform_totals(bits)
        except (TableError, KeyError, ValueError):
            continue
        policy = Policy.uniform(problem.names, bits)
        out.append(problem.evaluated(policy, problem.scorer.uncached_accuracy(policy), costs))
    return out


def _finetune(
    problem: SearchProblem,
    best: EvaluatedPolicy,
    spec: SearchSpec,
    robust: RobustEvaluator | None,
    check: Callable[[], None],
) -> tuple[FinetuneResult, bytes]:
    """Quantization-aware fine-tune of the best policy on a fresh quantized copy.

    The accuracy after is measured the way an export will rebuild the model: the
    fine-tuned float weights in a new ``QuantizedModel`` (quantizers recalibrated on them),
    so the reported number is the deployed one. Returns the result and the weights.
    """
    dataset = problem.dataset
    qmodel = QuantizedModel(problem.model, dataset.calib.x)
    qmodel.set_policy(best.policy)
    defensive = spec.robust is not None and spec.robust.defensive
    extra_loss = lipschitz_loss(spec.robust.beta) if defensive else None
    finetune(qmodel, dataset.train, steps=spec.finetune_steps, seed=spec.seed, extra_loss=extra_loss, check=check)
    state = qmodel.float_state_dict()  # the folded model's state (BatchNorm inside the convs)
    data = weights_bytes(state)
    deployed = QuantizedModel(load_into(problem.model, data), dataset.calib.x).set_policy(best.policy)
    after = accuracy(deployed, problem.scorer.eval_split)
    if robust is None:
        return FinetuneResult(accuracy_before=best.accuracy, accuracy_after=after, steps=spec.finetune_steps), data
    return FinetuneResult(
        accuracy_before=best.accuracy, accuracy_after=after, steps=spec.finetune_steps, defensive=defensive,
        beta=spec.robust.beta if defensive else None,
        robust_accuracy_before=robust.accuracy(best.policy), robust_accuracy_after=robust.measure_model(deployed)[0],
    ), data
