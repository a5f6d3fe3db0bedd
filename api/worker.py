"""A local worker process: takes jobs from the store until told to stop, or its server is gone.

``hwsearch serve`` starts these next to the API (the default, nothing else to run) and
supervises them (``api.supervisor``); ``hwsearch worker --local`` starts one by hand
against a shared database.

SIGTERM or SIGINT stops the worker; a running job goes back to the queue. Only the first
signal counts: when Ctrl+C reaches the whole process group, the server's SIGTERM follows
and must not interrupt the hand-back. A worker started by a server (``parent_pid``) also
stops that way when the server is gone, even killed outright: a watchdog thread notices
that its parent changed, and on Linux the kernel sends SIGTERM as well (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import logging
import signal
import time

from api.db import Database
from api.parent_watch import stop_with_parent
from api.settings import Settings
from api.workers import Heartbeat

log = logging.getLogger("hwsearch.worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop(signum: int, _frame: object) -> None:
    for sig in STOP_SIGNALS:  # later signals must not interrupt the job's hand-back
        signal.signal(sig, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def run_local_worker(
    settings: Settings,
    poll_seconds: float = 0.5,
    max_jobs: int | None = None,
    parent_pid: int | None = None,
    queue_name: str | None = None,
) -> None:
    """Poll for claimable jobs and run them (only those on ``queue_name`` if given, else only
    those naming no queue); SIGTERM hands a running job back to the queue."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)
    if parent_pid is not None:
        stop_with_parent(parent_pid)
    db = Database(settings.db_url)
    heartbeat = Heartbeat(db, "local", queue_name, interval_s=settings.worker_stale_seconds / 3)
    heartbeat.start()  # before the seconds-long import below: a starting worker is alive
    try:
        from api.job_runner import execute_job  # torch and the search

        done = 0
        log.info("local worker %s polling %s", heartbeat.worker, settings.db_url.split("@")[-1])
        while max_jobs is None or done < max_jobs:
            job_id = execute_job(db, settings, queue_name=queue_name)
            if job_id is None:
                time.sleep(poll_seconds)
            else:
                done += 1
    finally:
        heartbeat.stop()
