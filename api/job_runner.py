"""A worker's run of one job: the same code for local workers and Celery workers.

Claims the job, holds its lease with a heartbeat, runs ``hwsearch.search.run_search``
with progress written to the store, cancellation read from it and checkpoints under the
data directory, then hands the result to ``api.store``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time

from api import queue, store
from api.db import Database
from api.settings import Settings
from api.uploads import server_spec
from hwsearch.search import run_search

log = logging.getLogger("hwsearch.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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

    def should_stop() -> bool:
        now = time.monotonic()
        if now - last_poll[0] > 0.2:
            with db.sessions() as session:
                last_poll[1] = queue.cancel_requested(session, job_id)
            last_poll[0] = now
        return bool(last_poll[1])

    try:
        with db.sessions() as session:
            run_spec = server_spec(session, settings, spec, owner_id)
        result = run_search(
            run_spec,
            progress=lambda p: store.save_progress(db, job_id, p),
            should_stop=should_stop,
            checkpoint_dir=checkpoint_dir,
            uniform_bits=store.UNIFORM_BITS,
        )
        store.save_result(db, job_id, spec, result)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        log.info("job %s: %s", job_id, "cancelled" if result.cancelled else "succeeded")
    except (KeyboardInterrupt, SystemExit):  # worker stopping: hand the job back, it resumes elsewhere
        with db.sessions() as session:
            queue.release(session, job_id, worker)
        raise
    except Exception as exc:  # the job fails; the worker lives on
        log.exception("job %s failed", job_id)
        store.save_failure(db, job_id, f"{type(exc).__name__}: {exc}")
    finally:
        heartbeat.stopped.set()
    return job_id
