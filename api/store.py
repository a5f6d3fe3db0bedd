"""What a job leaves in the store: its progress, its policies and summary, or its error.

Each write is one transaction, fenced by the worker's claim (``api.queue.fence``), so a
job never shows half a result, nor the results of two workers.
"""

from __future__ import annotations

from typing import Any

from api.checkpoints import drop_checkpoint
from api.db import Database
from api.models import Job, StoredPolicy, utcnow
from api.queue import Claim, fence
from hwsearch.search import SearchProgress, SearchResult

#: reference policies the worker measures for every job (the job page marks them)
UNIFORM_BITS = (8, 6, 4)
SUMMARY_KEYS = ("float_accuracy", "baseline_int8", "evaluations", "wall_time_s", "finetune", "budget", "unit")


def save_progress(db: Database, held: Claim, lease_seconds: float, p: SearchProgress) -> None:
    with db.session() as session:
        fence(session, held, lease_seconds)
        session.get(Job, held.job_id).progress = {
            "episode": p.episode,
            "episodes": p.episodes,
            "best_accuracy": p.best_accuracy,
            "best_latency_ms": p.best_latency_ms,
            "best_energy_mj": p.best_energy_mj,
            "reward": p.reward,
            "accuracy": p.accuracy,
            "elapsed_s": p.elapsed_s,
        }


def save_result(db: Database, held: Claim, lease_seconds: float, spec: dict[str, Any], result: SearchResult) -> None:
    """The best policy, the Pareto front, the history and the summary, in one transaction.

    Documents record ``spec`` as the user gave it (``upload:ID``, not a server path).
    """
    with db.session() as session:
        fence(session, held, lease_seconds)
        job = session.get(Job, held.job_id)
        for kind, point in [("best", result.best)] + [("pareto", p) for p in result.pareto]:
            doc = result.policy_document(point)
            doc["spec"] = spec
            doc["target"] = spec["target"]
            session.add(
                StoredPolicy(
                    owner_id=job.owner_id,
                    job_id=job.id,
                    kind=kind,
                    model=spec["model"],
                    target=spec["target"],
                    objective=str(doc.get("objective", spec.get("objective", "latency"))),
                    accuracy=point.accuracy,
                    latency_ms=point.latency_ms,
                    energy_mj=point.energy_mj,
                    size_mb=point.size_mb,
                    document=doc,
                    # the final fine-tune (and its weights) belongs to the best policy only
                    finetuned_weights=result.finetuned_weights if kind == "best" else None,
                )
            )
        full = result.to_dict()
        job.history = full["history"]
        job.summary = {**{k: full[k] for k in SUMMARY_KEYS}, "uniform": result.uniform_figures()}
        job.state = "cancelled" if result.cancelled else "succeeded"
        job.finished_at = utcnow()
        job.lease_until = None
        drop_checkpoint(session, job.id)


def save_failure(db: Database, held: Claim, lease_seconds: float, error: str) -> None:
    with db.session() as session:
        fence(session, held, lease_seconds)
        job = session.get(Job, held.job_id)
        job.state, job.error, job.finished_at, job.lease_until = "failed", error, utcnow(), None
        drop_checkpoint(session, job.id)
