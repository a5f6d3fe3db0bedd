"""The job queue on the store: claim, lease, fence, heartbeat, retry limit, recover.

Jobs live in the ``jobs`` table. A worker *claims* a job with a conditional UPDATE (only
one worker can win, on SQLite and PostgreSQL alike) and holds a *lease* it renews while
it runs. A worker that dies (even by SIGKILL) stops renewing; once the lease expires the
job is claimable again and resumes from its last checkpoint. Nothing is deleted.

Every claim bumps the job's ``generation``: it is the claim's *fencing token*. Each write
a worker makes (progress, checkpoint, policies, final state) first runs ``fence``, a
conditional UPDATE on the job's row with the worker's generation, in the same
transaction: a worker that was paused past its lease and whose job was claimed again
writes nothing more (``LeaseLost``), however late it wakes up.

A job whose worker dies ``max_attempts`` times is failed with the reason stored, so one
job that kills its worker (out of memory, say) cannot take the workers down forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from api.models import Job, utcnow

TERMINAL = ("succeeded", "failed", "cancelled")


class LeaseLost(RuntimeError):
    """This worker's claim on the job was taken over (or the job ended): stop, write nothing."""


@dataclass(frozen=True)
class Claim:
    """What a worker holds: the job and the generation its writes are fenced with."""

    job_id: int
    generation: int
    worker: str


def _expired(now: datetime):
    return and_(Job.state == "running", Job.lease_until < now)


def _claimable(now: datetime, max_attempts: int):
    return or_(Job.state == "queued", _expired(now)) & (Job.attempts < max_attempts)


def _on_queue(name: str | None):
    """Jobs a worker on queue ``name`` takes: that queue's, or (None) those naming no queue."""
    return Job.queue.is_(None) if name is None else Job.queue == name


def fail_exhausted(session: Session, max_attempts: int) -> list[int]:
    """Fail expired jobs that already used every attempt: each one's worker died mid-run."""
    now = utcnow()
    ids = list(session.scalars(select(Job.id).where(_expired(now), Job.attempts >= max_attempts)))
    for job_id in ids:
        session.execute(
            update(Job)
            .where(Job.id == job_id, _expired(now), Job.attempts >= max_attempts)
            .values(
                state="failed",
                error=(
                    f"the worker running this job stopped without finishing {max_attempts} times "
                    "(killed, out of memory, or its machine lost); not retried again"
                ),
                finished_at=now,
                lease_until=None,
                generation=Job.generation + 1,
            )
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return ids


def claim(
    session: Session,
    worker: str,
    lease_seconds: float,
    job_id: int | None = None,
    max_attempts: int = 3,
    queue: str | None = None,
) -> Claim | None:
    """Claim ``job_id`` (or the oldest claimable job on ``queue``: None = jobs naming no
    queue); None if another worker has it."""
    fail_exhausted(session, max_attempts)
    now = utcnow()
    if job_id is None:
        job_id = session.scalar(select(Job.id).where(_claimable(now, max_attempts), _on_queue(queue)).order_by(Job.id).limit(1))
        if job_id is None:
            return None
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, _claimable(now, max_attempts))
        .values(
            state="running",
            worker=worker,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            generation=Job.generation + 1,
            started_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    generation = session.scalar(select(Job.generation).where(Job.id == job_id))
    return Claim(job_id, generation, worker)


def fence(session: Session, held: Claim, lease_seconds: float) -> None:
    """Check (and lock, until the transaction ends) that ``held`` is still the job's claim,
    extending its lease; raise ``LeaseLost`` otherwise. Call it first in every write."""
    result = session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.generation == held.generation, Job.state == "running")
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"job {held.job_id}: claim {held.generation} was taken over")


def renew(session: Session, held: Claim, lease_seconds: float) -> bool:
    """Extend the lease; False if the job is no longer ours (re-claimed or finished)."""
    try:
        fence(session, held, lease_seconds)
    except LeaseLost:
        session.rollback()
        return False
    session.commit()
    return True


def cancel_requested(session: Session, job_id: int) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def release(session: Session, held: Claim) -> None:
    """Give a running job back to the queue (worker shutting down); it resumes from its checkpoint.

    A shutdown is not a failure: the attempt is given back too.
    """
    session.execute(
        update(Job)
        .where(Job.id == held.job_id, Job.generation == held.generation, Job.state == "running")
        .values(state="queued", worker=None, lease_until=None, dispatched_at=None, attempts=Job.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def requeue_expired(session: Session, max_attempts: int) -> list[int]:
    """Celery mode: running jobs whose worker went silent go back to the queue, to be sent again."""
    now = utcnow()
    ids = list(session.scalars(select(Job.id).where(_expired(now), Job.attempts < max_attempts)))
    requeued = []
    for job_id in ids:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, _expired(now), Job.attempts < max_attempts)
            .values(state="queued", worker=None, lease_until=None, dispatched_at=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            requeued.append(job_id)
    session.commit()
    return requeued


def take_undispatched(session: Session) -> list[int]:
    """Celery mode: queued jobs with no message in the broker, each marked as sent.

    The mark is a conditional UPDATE, so with several API processes each job is sent by one.
    The caller sends the messages and calls ``undispatch`` for any it could not send.
    """
    ids = list(session.scalars(select(Job.id).where(Job.state == "queued", Job.dispatched_at.is_(None)).order_by(Job.id)))
    taken = []
    for job_id in ids:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "queued", Job.dispatched_at.is_(None))
            .values(dispatched_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            taken.append(job_id)
    session.commit()
    return taken


def undispatch(session: Session, job_id: int) -> None:
    """The message could not be sent (broker down): the next round sends it."""
    session.execute(update(Job).where(Job.id == job_id, Job.state == "queued").values(dispatched_at=None))
    session.commit()
