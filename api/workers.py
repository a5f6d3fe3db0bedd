"""Who is alive: each worker process's heartbeat row in the ``workers`` table.

Why a registry: a worker killed outright (SIGKILL, out of memory, its machine lost) cannot
say so. Without this, ``/healthz`` said ok while every worker was dead and new jobs waited
forever. So every worker process renews its own row every few seconds (``Heartbeat``, a
background thread), a row not renewed within ``worker_stale_seconds`` no longer counts
(``live_workers``), a worker that stops cleanly deletes its row (``forget``), and rows
nobody renewed for ``PRUNE_AFTER_S`` are deleted by whoever beats next.

A row's ``job_id`` is read from the queue (the running job this worker holds the lease
of), so the job code needs no hook. Times are the workers' clocks, as for leases.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from api.db import Database
from api.models import Job, WorkerRecord, utcnow

log = logging.getLogger("hwsearch.workers")

PRUNE_AFTER_S = 600.0  # rows of workers silent this long are deleted


def worker_name(pid: int | None = None) -> str:
    """A worker process's name, ``host:pid``: the name ``api.job_runner`` gives a job's holder."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def beat(session: Session, name: str, kind: str, queue: str | None = None, started_at: datetime | None = None) -> None:
    """Upsert ``name``'s row as seen now, with the job it holds; prune long-dead rows."""
    now = utcnow()
    job_id = session.scalar(select(Job.id).where(Job.worker == name, Job.state == "running").order_by(Job.id).limit(1))
    values = {"kind": kind, "queue": queue, "job_id": job_id, "last_seen": now, "started_at": started_at or now}
    updated = session.execute(
        update(WorkerRecord).where(WorkerRecord.name == name).values(**values).execution_options(synchronize_session=False)
    )
    if updated.rowcount == 0:
        session.add(WorkerRecord(name=name, **values))
    session.execute(delete(WorkerRecord).where(WorkerRecord.last_seen < now - timedelta(seconds=PRUNE_AFTER_S)))


def live_workers(session: Session, within_s: float) -> list[WorkerRecord]:
    """Workers whose last heartbeat is at most ``within_s`` old, by name."""
    cutoff = utcnow() - timedelta(seconds=within_s)
    return list(session.scalars(select(WorkerRecord).where(WorkerRecord.last_seen >= cutoff).order_by(WorkerRecord.name)))


def forget(session: Session, name: str) -> None:
    """Delete ``name``'s row: the worker stopped (cleanly, or its supervisor reaped it)."""
    session.execute(delete(WorkerRecord).where(WorkerRecord.name == name))


class Heartbeat(threading.Thread):
    """This process's row, renewed every ``interval_s`` until ``stop()``, which deletes it.

    A failed beat (database briefly away) is logged and retried at the next tick: the worker
    keeps working, it only looks stale meanwhile.
    """

    def __init__(self, db: Database, kind: str, queue: str | None = None, interval_s: float = 5.0) -> None:
        super().__init__(daemon=True, name="worker-heartbeat")
        self.db, self.kind, self.queue, self.interval_s = db, kind, queue, interval_s
        self.worker = worker_name()
        self.started_at = utcnow()
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                with self.db.session() as session:
                    beat(session, self.worker, self.kind, self.queue, self.started_at)
            except Exception as exc:  # one line a beat: the database may be away for a while
                log.warning("worker heartbeat of %s failed (%s); retrying", self.worker, str(exc).splitlines()[0])
            self._stopped.wait(self.interval_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and delete the row (a clean exit: the worker is gone, not stale)."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)
        try:
            with self.db.session() as session:
                forget(session, self.worker)
        except Exception:
            log.warning("could not delete the heartbeat row of %s; it will go stale", self.worker)
