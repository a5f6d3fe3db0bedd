"""A worker's run of one job: the same code for local workers and Celery workers.

Claims the job, holds its lease with a heartbeat, runs ``hwsearch.search.run_search``
with progress and checkpoint written to the store and cancellation read from it, then
hands the result to ``api.store``. Every write is fenced by the claim: once another
worker holds the job (this one was paused past its lease), this run stops at its next
episode and writes nothing more.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from api import queue, store
from api.checkpoints import JobCheckpointStore
from api.db import Database
from api.measure_runner import is_measurement, run_measurement
from api.verify_runner import is_verification, run_verification
from api.models import Job
from api.settings import Settings
from api.uploads import server_spec
from hwsearch.search import run_search

log = logging.getLogger("hwsearch.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Heartbeat(threading.Thread):
    """Renews the job's lease while the search runs, so a live worker keeps its job;
    notices when the claim was taken over (``lost``)."""

    def __init__(self, db: Database, held: queue.Claim, lease_seconds: float) -> None:
        super().__init__(daemon=True)
        self.db, self.held, self.lease = db, held, lease_seconds
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            try:
                with self.db.sessions() as session:
                    if not queue.renew(session, self.held, self.lease):
                        self.lost.set()
                        return
            except Exception:  # a transient DB error must not kill the search
                log.exception("lease renewal failed for job %s", self.held.job_id)


def execute_job(db: Database, settings: Settings, job_id: int | None = None, queue_name: str | None = None) -> int | None:
    """Claim and run one job (``job_id``, or the next queued on ``queue_name``: None = jobs
    naming no queue); returns its id, or None. A measurement job runs ``api.measure_runner``."""
    worker = worker_name()
    lease = settings.lease_seconds
    with db.sessions() as session:
        held = queue.claim(session, worker, lease, job_id, settings.max_attempts, queue_name)
        if held is None:
            return None
        job = session.get(Job, held.job_id)
        spec, owner_id, attempt = dict(job.spec), job.owner_id, job.attempts
    job_id = held.job_id
    log.info("job %s: running on %s (attempt %s, claim %s)", job_id, worker, attempt, held.generation)
    heartbeat = _Heartbeat(db, held, lease)
    heartbeat.start()
    last_poll = [0.0, False]

    def should_stop() -> bool:
        if heartbeat.lost.is_set():
            raise queue.LeaseLost(f"job {job_id}: claim {held.generation} was taken over")
        now = time.monotonic()
        if now - last_poll[0] > 0.2:
            with db.sessions() as session:
                last_poll[1] = queue.cancel_requested(session, job_id)
            last_poll[0] = now
        return bool(last_poll[1])

    try:
        if is_measurement(spec):
            run_measurement(db, held, lease, settings, spec, should_stop)
            log.info("job %s: measurement done", job_id)
            return job_id
        if is_verification(spec):
            run_verification(db, held, lease, settings, spec, should_stop)
            log.info("job %s: verification done", job_id)
            return job_id
        with db.sessions() as session:
            run_spec = server_spec(session, settings, spec, owner_id)
        if run_spec.get("device", "auto") == "auto":  # this worker's own choice (HWSEARCH_DEVICE)
            run_spec["device"] = settings.device
        result = run_search(
            run_spec,
            progress=lambda p: store.save_progress(db, held, lease, p),
            should_stop=should_stop,
            checkpoint=JobCheckpointStore(db, held, lease),
            checkpoint_identity=spec,
            uniform_bits=store.UNIFORM_BITS,
        )
        store.save_result(db, held, lease, spec, result)
        log.info("job %s: %s", job_id, "cancelled" if result.cancelled else "succeeded")
    except queue.LeaseLost:  # another worker holds the job now: it carries on, this one is done
        log.warning("job %s: claim %s taken over by another worker; stopped without writing", job_id, held.generation)
    except (KeyboardInterrupt, SystemExit):  # worker stopping: hand the job back, it resumes elsewhere
        with db.sessions() as session:
            queue.release(session, held)
        raise
    except Exception as exc:  # the job fails; the worker lives on
        log.exception("job %s failed", job_id)
        try:
            store.save_failure(db, held, lease, f"{type(exc).__name__}: {exc}")
        except queue.LeaseLost:
            log.warning("job %s: claim %s taken over; its failure is not recorded", job_id, held.generation)
    finally:
        heartbeat.stopped.set()
    return job_id
