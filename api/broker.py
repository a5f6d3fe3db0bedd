"""The Celery broker as the API sees it: long-job-safe settings, and dispatch by task name.

The API sends a job to the Celery workers by name, so it imports no worker code
(the task itself is registered in ``api.celery_app``, on the workers).

The store is the queue; a message only wakes a worker for one job. The server sends
exactly one message per queued job (``jobs.dispatched_at`` records it, see
``dispatch_pending``), and when a worker dies its job's lease expires, the server puts the
job back in the queue and sends one new message: recovery takes the lease plus one
dispatch tick, and messages never pile up. Broker settings for long jobs:
- ``task_acks_late`` with ``worker_prefetch_multiplier=1``: a busy worker reserves no
  second message, so a queued job never waits behind another worker's long job;
- ``task_reject_on_worker_lost=False``: a pool process lost mid-job does *not* put its
  message back (the server's lease-based re-send already does: one message, not two);
- Redis ``visibility_timeout`` longer than the longest job (12 h), so a running job's
  message is not handed to a second worker while the first still works on it. A message
  left unacknowledged by a worker killed outright comes back only after it, and finds its
  job finished or held: a no-op, since the store's claim is the final word.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from sqlalchemy import select

from api import queue
from api.db import Database
from api.models import Job
from api.settings import Settings

log = logging.getLogger("hwsearch.broker")

VISIBILITY_TIMEOUT_S = 12 * 3600
TASK_NAME = "hwsearch.run_job"


def make_celery(settings: Settings) -> Celery:
    """A Celery app bound to ``settings.broker_url`` with long-job-safe settings."""
    app = Celery("hwsearch", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


def dispatch(settings: Settings, job_id: int, queue_name: str | None = None) -> None:
    """Send a job to the Celery workers (by name: the API needs no worker code); a job on a
    named queue goes to the Celery queue of that name, which only its workers consume."""
    make_celery(settings).send_task(TASK_NAME, args=[job_id], **({"queue": queue_name} if queue_name else {}))


def dispatch_pending(db: Database, settings: Settings) -> list[int]:
    """One dispatch round: fail jobs out of attempts, re-queue jobs whose lease expired,
    send one message for each queued job that has none. Returns the ids sent."""
    with db.sessions() as session:
        queue.fail_exhausted(session, settings.max_attempts)
        queue.requeue_expired(session, settings.max_attempts)
        pending = queue.take_undispatched(session)
        queues = dict(session.execute(select(Job.id, Job.queue).where(Job.id.in_(pending))).tuples().all()) if pending else {}
    sent = []
    for job_id in pending:
        try:
            dispatch(settings, job_id, queues.get(job_id))
            sent.append(job_id)
        except Exception:  # broker down: the job stays queued and the next round sends it
            log.warning("could not send job %s to the broker; will retry", job_id)
            with db.sessions() as session:
                queue.undispatch(session, job_id)
    return sent


class Dispatcher:
    """``dispatch_pending`` every ``settings.dispatch_interval_seconds`` on a thread, until ``stop()``.

    One per service: in the API process, or in ``hwsearch serve``'s parent when it runs several
    API processes (one round at a time keeps a job's one message one).
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="dispatch")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.settings.dispatch_interval_seconds + 30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                dispatch_pending(self.db, self.settings)
            except Exception:
                log.exception("dispatch failed; will retry")
            self._stop.wait(self.settings.dispatch_interval_seconds)
