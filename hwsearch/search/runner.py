"""``run_search``: run a ``SearchSpec`` to a ``SearchResult``.

Every candidate an agent proposes goes through ``SearchContext.propose`` (fit to the
budget, cached accuracy, reward); the runner hooks in there to record the episode, keep
the best, report progress, write the checkpoint and decide whether to stop.

Checkpoints and resuming. After every episode ``checkpoint.json`` is replaced atomically
(temp file + ``os.replace``). It holds the spec, the history, the best so far, the
elapsed time and every accuracy measured (in order). On resume the agent is re-run from
its seed with that accuracy cache: all agents are deterministic given the seed and the
accuracies they observe, so every episode before the interruption replays exactly (and
is checked against the stored history), costing only the agent's own compute and no
accuracy evaluation, and the agent arrives at the interruption point in *exactly* the
state it had (networks, optimizer, replay buffer, noise scale, random generators)
without serialising any of it. A resumed search therefore equals an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hwsearch.core.policy import Policy
from hwsearch.search.confirm import confirm_history
from hwsearch.search.context import EpisodeOutcome, SearchContext, build_costing
from hwsearch.search.result import (
    Baseline,
    EpisodeRecord,
    EvaluatedPolicy,
    FinetuneResult,
    SearchProgress,
    SearchResult,
)
from hwsearch.core.spec import DEFAULT_CONFIRM_TOP, SearchSpec, SpecError, spec_from_dict

CHECKPOINT_NAME = "checkpoint.json"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (another spec, or another code version)."""


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pareto_front(points: list[EvaluatedPolicy]) -> list[EvaluatedPolicy]:
    """Non-dominated points: higher accuracy, lower latency, lower energy (NaN energy ignored)."""

    def key(p: EvaluatedPolicy) -> tuple[float, float, float]:
        energy = 0.0 if math.isnan(p.energy_mj) else p.energy_mj
        return (-p.accuracy, p.latency_ms, energy)

    keyed = sorted(((key(p), p) for p in points), key=lambda kp: kp[0])
    front: list[tuple[tuple[float, float, float], EvaluatedPolicy]] = []
    for k, p in keyed:
        dominated = any(all(f <= g for f, g in zip(fk, k)) and fk != k for fk, _ in front)
        duplicate = any(fk == k for fk, _ in front)
        if not dominated and not duplicate:
            front.append((k, p))
    return sorted((p for _, p in front), key=lambda p: p.latency_ms)


def _policy_rows(ctx: SearchContext, policy: Policy) -> list[list[int]]:
    return [[policy[n].weight_bits, policy[n].activation_bits] for n in ctx.names]


def _row_policy(ctx: SearchContext, rows: list[list[int]]) -> Policy:
    return Policy({n: (w, a) for n, (w, a) in zip(ctx.names, rows)})


def _better(a: EvaluatedPolicy, a_obj: float, b: EvaluatedPolicy | None, b_obj: float) -> bool:
    """Higher accuracy wins; ties go to the cheaper policy, then the earlier one."""
    if b is None:
        return True
    return a.accuracy > b.accuracy or (a.accuracy == b.accuracy and a_obj < b_obj - 1e-12)


class _Session:
    """Bookkeeping of one ``run_search`` call (hooked into ``ctx.propose``)."""

    def __init__(self, spec, ctx, progress, should_stop, checkpoint_dir, prior) -> None:
        self.spec, self.ctx = spec, ctx
        self.progress, self.should_stop = progress, should_stop
        self.checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        self.prior_history: list[dict] = prior["history"] if prior else []
        self.prior_elapsed: float = prior["elapsed_s"] if prior else 0.0
        self.history: list[EpisodeRecord] = []
        self.best: EvaluatedPolicy | None = None
        self.best_obj = math.inf
        self.cancelled = False
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return self.prior_elapsed + time.perf_counter() - self.start

    def on_episode(self, outcome: EpisodeOutcome) -> None:
        ctx = self.ctx
        n = len(self.history) + 1
        c = outcome.costs
        record = EpisodeRecord(n, outcome.reward, outcome.accuracy, c.latency_ms, c.energy_mj, c.size_mb, outcome.policy.to_dict())
        replay = n <= len(self.prior_history)
        if replay:
            stored = EpisodeRecord.from_dict(self.prior_history[n - 1])
            if stored.policy != record.policy or not math.isclose(stored.accuracy, record.accuracy):
                raise CheckpointError(
                    f"checkpoint episode {n} does not replay (stored {stored.policy}, now {record.policy}); "
                    "it was made by another version of the agent: delete the checkpoint to start afresh"
                )
        self.history.append(record)
        evaluated = EvaluatedPolicy(outcome.policy, outcome.accuracy, c.latency_ms, c.energy_mj, c.size_mb, n)
        better = _better if ctx.robust is None else ctx.robust.better
        if better(evaluated, c.objective, self.best, self.best_obj):
            self.best, self.best_obj = evaluated, c.objective
        if n >= self.spec.episodes:
            ctx.stopped = True
        elif not replay and self.should_stop is not None and self.should_stop():
            ctx.stopped = True
            self.cancelled = True
        if self.checkpoint_path is not None and not replay:
            self.write_checkpoint()
        # replayed episodes are not news: report only where the resumed search picks up
        if self.progress is not None and (not replay or n == len(self.prior_history)):
            self.progress(
                SearchProgress(
                    episode=n,
                    episodes=self.spec.episodes,
                    best_accuracy=self.best.accuracy,
                    best_latency_ms=self.best.latency_ms,
                    best_energy_mj=self.best.energy_mj,
                    reward=outcome.reward,
                    accuracy=outcome.accuracy,
                    elapsed_s=self.elapsed(),
                    latency_ms=c.latency_ms,
                    energy_mj=c.energy_mj,
                    evaluations=len(ctx.cache),
                    eval_seconds=ctx.stats.eval_seconds,
                )
            )

    def write_checkpoint(self, finished: bool = False) -> None:
        ctx = self.ctx
        doc = {
            "version": CHECKPOINT_VERSION,
            "spec": self.spec.model_dump(mode="json"),
            "layers": ctx.names,
            "history": [h.to_dict() for h in self.history],
            "best": self.best.to_dict() if self.best else None,
            "elapsed_s": self.elapsed(),
            "cache": [[_policy_rows(ctx, p), ctx.cache[p]] for p in ctx.order],
            "finished": finished,
        }
        write_json_atomic(self.checkpoint_path, doc)


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write JSON to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(checkpoint_dir: str | Path, spec: SearchSpec) -> dict | None:
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    if doc.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has version {doc.get('version')}, expected {CHECKPOINT_VERSION}")
    stored = doc.get("spec")
    if isinstance(stored, dict):
        # checkpoints from before these fields (neither changes the episodes a search replays)
        stored = {"robust": None, "confirm_top": DEFAULT_CONFIRM_TOP, "confirm_samples": None, **stored}
    if stored != spec.model_dump(mode="json"):
        raise CheckpointError(f"checkpoint {path} was made for another spec; use another checkpoint folder or delete it")
    return doc


def run_search(
    spec: SearchSpec | dict[str, Any],
    progress: Callable[[SearchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_dir: str | Path | None = None,
    agent_options: dict[str, Any] | None = None,
) -> SearchResult:
    """Run one search (see the module docstring for checkpoints and resuming).

    ``progress`` is called after every episode; ``should_stop()`` is polled after every
    episode and, when true, the search stops and returns what it has with
    ``cancelled=True``. ``agent_options`` are passed to the agent's constructor
    (e.g. ``{"warmup_episodes": 5}``; ``{"tensorboard_log": DIR}`` for RL agents).
    """
    from agents import get_agent

    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    costing = build_costing(spec)
    prior = load_checkpoint(checkpoint_dir, spec) if checkpoint_dir else None
    seed_everything(spec.seed)
    ctx = SearchContext(spec, costing)
    if prior:
        ctx.preload([(_row_policy(ctx, rows), acc) for rows, acc in prior["cache"]])
    session = _Session(spec, ctx, progress, should_stop, checkpoint_dir, prior)
    int8 = Policy.uniform(ctx.names, 8)
    int8_acc = ctx.accuracy(int8)
    ctx.on_episode = session.on_episode
    try:
        agent = get_agent(spec.agent, **(agent_options or {}))
    except ValueError as exc:
        raise SpecError("agent", str(exc)) from None
    seed_everything(spec.seed)
    agent.search(ctx, spec.episodes, spec.seed)
    ctx.on_episode = None
    if session.best is None and ctx.robust is not None and not session.cancelled and session.history:
        raise ctx.robust.fail(len(ctx.cache))  # every candidate missed robust.min_accuracy
    if session.best is None:  # cancelled before the first episode finished
        session.cancelled = True
        c = ctx.int8
        session.best = EvaluatedPolicy(int8, int8_acc, c.latency_ms, c.energy_mj, c.size_mb, None)
    confirmation = None
    if ctx.robust is None and session.history and not session.cancelled:
        confirmed = confirm_history(ctx, session.history)
        if confirmed is not None:
            session.best, confirmation = confirmed
    finetune, finetuned_weights = None, None
    if spec.finetune_steps > 0 and not session.cancelled:
        finetune, finetuned_weights = _finetune(ctx, session.best, spec)
    points = []
    episode_of: dict[Policy, int] = {}
    for rec in session.history:
        episode_of.setdefault(Policy.from_dict(rec.policy), rec.episode)
    for policy in ctx.order:
        c = ctx.policy_costs(policy)
        points.append(EvaluatedPolicy(policy, ctx.cache[policy], c.latency_ms, c.energy_mj, c.size_mb, episode_of.get(policy)))
    if session.checkpoint_path is not None:
        session.write_checkpoint(finished=not session.cancelled)
    best, pareto = session.best, pareto_front(points)
    robustness = None
    if ctx.robust is not None:  # every stored policy carries its robust accuracy
        best, pareto = ctx.robust.attach(best), [ctx.robust.attach(p) for p in pareto]
        robustness = ctx.robust.summary()
    c8 = ctx.int8
    return SearchResult(
        spec=spec,
        best=best,
        pareto=pareto,
        history=session.history,
        float_accuracy=ctx.float_accuracy,
        baseline_int8=Baseline(c8.latency_ms, c8.energy_mj, c8.size_mb, int8_acc),
        evaluations=len(ctx.cache) + len(ctx.confirm_cache),
        wall_time_s=session.elapsed(),
        cancelled=session.cancelled,
        finetune=finetune,
        finetuned_weights=finetuned_weights,
        budget=ctx.budget,
        unit=ctx.unit,
        eval_seconds=ctx.stats.eval_seconds,
        robustness=robustness,
        confirmation=confirmation,
    )


def _finetune(ctx: SearchContext, best: EvaluatedPolicy, spec: SearchSpec) -> tuple[FinetuneResult, bytes]:
    """Quantization-aware fine-tune of the best policy on a fresh quantized copy.

    The accuracy after is measured the way an export will rebuild the model: the
    fine-tuned float weights in a new ``QuantizedModel`` (quantizers recalibrated on them),
    so the reported number is the deployed one. Returns the result and the weights.
    """
    import copy

    from hwsearch.evaluate import accuracy, finetune
    from hwsearch.finetuned_weights import weights_bytes
    from hwsearch.quant import QuantizedModel

    qmodel = QuantizedModel(ctx.model, ctx.dataset.calib.x)
    qmodel.set_policy(best.policy)
    robust = spec.robust
    defensive = robust is not None and robust.defensive
    extra_loss = None
    if defensive:
        from hwsearch.robust.lipschitz import lipschitz_loss

        extra_loss = lipschitz_loss(robust.beta)
    finetune(qmodel, ctx.dataset.train, steps=spec.finetune_steps, seed=spec.seed, extra_loss=extra_loss)
    state = qmodel.float_state_dict()
    tuned = copy.deepcopy(ctx.model)
    tuned.load_state_dict(state)
    deployed = QuantizedModel(tuned, ctx.dataset.calib.x).set_policy(best.policy)
    after = accuracy(deployed, ctx.eval_split)
    data = weights_bytes(state)
    if ctx.robust is None:
        return FinetuneResult(best.accuracy, after, spec.finetune_steps), data
    return FinetuneResult(
        best.accuracy, after, spec.finetune_steps, defensive, robust.beta if defensive else None,
        ctx.robust.accuracy(best.policy), ctx.robust.measure_model(deployed)[0],
    ), data
