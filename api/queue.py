"""The job queue on the store: claim, lease, heartbeat, finish, recover.

Jobs live in the ``jobs`` table. A worker *claims* a job with a conditional UPDATE (only
one worker can win, on SQLite and PostgreSQL alike) and holds a *lease* it renews while
it runs. A worker that dies (even by SIGKILL) stops renewing; once the lease expires the
job is claimable again and resumes from its last checkpoint. Nothing is deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from api.models import Job, utcnow

TERMINAL = ("succeeded", "failed", "cancelled")


def _claimable(now: datetime):
    return or_(Job.state == "queued", (Job.state == "running") & (Job.lease_until < now))


def claim(session: Session, worker: str, lease_seconds: float, job_id: int | None = None) -> Job | None:
    """Claim ``job_id`` (or the oldest claimable job); None if another worker has it."""
    now = utcnow()
    if job_id is None:
        job_id = session.scalar(select(Job.id).where(_claimable(now)).order_by(Job.id).limit(1))
        if job_id is None:
            return None
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, _claimable(now))
        .values(
            state="running",
            worker=worker,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            started_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(Job, job_id, populate_existing=True)


def renew(session: Session, job_id: int, worker: str, lease_seconds: float) -> bool:
    """Extend the lease; False if the job is no longer ours (re-claimed or finished)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def cancel_requested(session: Session, job_id: int) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def expired_running(session: Session) -> list[int]:
    """Running jobs whose worker stopped renewing its lease (for Celery re-dispatch)."""
    return list(session.scalars(select(Job.id).where(Job.state == "running", Job.lease_until < utcnow())))


def release(session: Session, job_id: int, worker: str) -> None:
    """Give a running job back to the queue (worker shutting down); it resumes from its checkpoint."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
        .values(state="queued", worker=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def stale_queued(session: Session, older_than_s: float) -> list[int]:
    """Queued jobs waiting longer than ``older_than_s`` (their message may have been lost)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    return list(session.scalars(select(Job.id).where(Job.state == "queued", Job.created_at < cutoff)))
