"""Run one job: the same code for local workers and Celery workers.

Claims the job, runs ``hwsearch.search.run_search`` with progress written to the store,
cancellation read from it and checkpoints under the data directory, then stores the
best policy and the Pareto front in one transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import socket
import threading
import time
from typing import Any

from api import queue
from api.db import Database
from api.models import HardwareTable, Job, StoredPolicy, utcnow
from api.settings import Settings

log = logging.getLogger("hwsearch.jobs")
UPLOAD_PREFIX = "upload:"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def resolve_target(db: Database, settings: Settings, spec: dict[str, Any], owner_id: int) -> dict[str, Any]:
    """Replace ``upload:ID`` by the path of that uploaded table (written to the data dir)."""
    target = spec.get("target")
    if not isinstance(target, str) or not target.startswith(UPLOAD_PREFIX):
        return spec
    try:
        table_id = int(target.removeprefix(UPLOAD_PREFIX))
    except ValueError:
        return spec
    with db.session() as session:
        row = session.get(HardwareTable, table_id)
        if row is None or row.owner_id != owner_id:
            return spec
        path = settings.data_dir / "tables" / f"{table_id}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(row.content)
    return {**spec, "target": str(path)}


def _finite(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


class _Heartbeat(threading.Thread):
    """Renews the job's lease while the search runs, so a live worker keeps its job."""

    def __init__(self, db: Database, job_id: int, worker: str, lease_seconds: float) -> None:
        super().__init__(daemon=True)
        self.db, self.job_id, self.worker, self.lease = db, job_id, worker, lease_seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            try:
                with self.db.sessions() as session:
                    queue.renew(session, self.job_id, self.worker, self.lease)
            except Exception:  # a transient DB error must not kill the search
                log.exception("lease renewal failed for job %s", self.job_id)


def execute_job(db: Database, settings: Settings, job_id: int | None = None) -> int | None:
    """Claim and run one job (``job_id`` or the next queued); returns its id, or None."""
    from hwsearch.policy_file import policy_document
    from hwsearch.search import SearchProgress, run_search

    worker = worker_name()
    with db.sessions() as session:
        job = queue.claim(session, worker, settings.lease_seconds, job_id)
        if job is None:
            return None
        job_id, spec, owner_id = job.id, dict(job.spec), job.owner_id
    log.info("job %s: running on %s", job_id, worker)
    checkpoint_dir = settings.checkpoint_root / str(job_id)
    heartbeat = _Heartbeat(db, job_id, worker, settings.lease_seconds)
    heartbeat.start()
    last_poll = [0.0, False]

    def on_progress(p: SearchProgress) -> None:
        with db.session() as session:
            session.get(Job, job_id).progress = {
                "episode": p.episode,
                "episodes": p.episodes,
                "best_accuracy": p.best_accuracy,
                "best_latency_ms": _finite(p.best_latency_ms),
                "best_energy_mj": _finite(p.best_energy_mj),
                "reward": p.reward,
                "accuracy": p.accuracy,
                "elapsed_s": p.elapsed_s,
            }

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last_poll[0] > 0.2:
            with db.sessions() as session:
                last_poll[1] = queue.cancel_requested(session, job_id)
            last_poll[0] = now
        return bool(last_poll[1])

    try:
        run_spec = resolve_target(db, settings, spec, owner_id)
        result = run_search(run_spec, progress=on_progress, should_stop=should_stop, checkpoint_dir=checkpoint_dir)
        from hwsearch.search import build_costing

        costing = build_costing(result.spec)
        with db.session() as session:
            job = session.get(Job, job_id)
            for kind, evaluated in [("best", result.best)] + [("pareto", p) for p in result.pareto]:
                # the final fine-tune (and its weights) belongs to the best policy only
                as_result = result
                if kind != "best":
                    as_result = dataclasses.replace(result, best=evaluated, finetune=None, finetuned_weights=None)
                doc = policy_document(as_result, costing.specs, costing.target)
                doc["spec"] = spec  # as the user gave it (e.g. upload:ID, not a server path)
                doc["target"] = spec["target"]
                session.add(
                    StoredPolicy(
                        owner_id=owner_id,
                        job_id=job_id,
                        kind=kind,
                        model=spec["model"],
                        target=spec["target"],
                        objective=str(doc.get("objective", spec.get("objective", "latency"))),
                        accuracy=evaluated.accuracy,
                        latency_ms=evaluated.latency_ms,
                        energy_mj=_finite(evaluated.energy_mj),
                        size_mb=evaluated.size_mb,
                        document=doc,
                        finetuned_weights=as_result.finetuned_weights,
                    )
                )
            full = result.to_dict()
            job.history = full["history"]
            job.summary = {k: full[k] for k in ("float_accuracy", "baseline_int8", "evaluations", "wall_time_s", "finetune", "budget", "unit")}
            job.state = "cancelled" if result.cancelled else "succeeded"
            job.finished_at = utcnow()
            job.lease_until = None
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        log.info("job %s: %s", job_id, "cancelled" if result.cancelled else "succeeded")
    except (KeyboardInterrupt, SystemExit):  # worker stopping: hand the job back, it resumes elsewhere
        with db.sessions() as session:
            queue.release(session, job_id, worker)
        raise
    except Exception as exc:  # the job fails; the worker lives on
        log.exception("job %s failed", job_id)
        with db.session() as session:
            job = session.get(Job, job_id)
            job.state, job.error, job.finished_at, job.lease_until = "failed", f"{type(exc).__name__}: {exc}", utcnow(), None
    finally:
        heartbeat.stopped.set()
    return job_id

