"""A running job's checkpoint in the store (``hwsearch.search.CheckpointStore``).

Entries are rows of ``job_checkpoints``, appended one per episode, each write fenced by
the worker's claim (``api.queue.fence``): a worker on any machine resumes from the
database alone, and a worker whose claim was taken over cannot add to the checkpoint.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api import queue
from api.db import Database
from api.models import JobCheckpoint


class JobCheckpointStore:
    """The checkpoint of the job ``held`` names, as its claimant reads and writes it."""

    def __init__(self, db: Database, held: queue.Claim, lease_seconds: float) -> None:
        self.db, self.held, self.lease_seconds = db, held, lease_seconds

    def read(self) -> list[dict[str, Any]]:
        with self.db.sessions() as session:
            rows = session.scalars(
                select(JobCheckpoint.entry).where(JobCheckpoint.job_id == self.held.job_id).order_by(JobCheckpoint.id)
            )
            return list(rows)

    def append(self, entry: dict[str, Any]) -> None:
        with self.db.session() as session:
            queue.fence(session, self.held, self.lease_seconds)
            session.add(JobCheckpoint(job_id=self.held.job_id, generation=self.held.generation, entry=entry))


def drop_checkpoint(session: Session, job_id: int) -> None:
    """Delete a finished job's checkpoint (its result holds the history)."""
    session.execute(delete(JobCheckpoint).where(JobCheckpoint.job_id == job_id))
