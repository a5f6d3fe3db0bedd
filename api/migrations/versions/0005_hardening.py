"""Service hardening: fencing tokens, dispatch bookkeeping, checkpoints in the store,
a registry of live workers, revocable keys.

- ``jobs.generation``: bumped by every claim; every write a worker makes is conditional on
  it, so a worker whose lease was taken writes nothing more (fencing token).
- ``jobs.dispatched_at``: when the job's Celery message was sent (null: send one), so the
  server sends exactly one message per queued job.
- ``job_checkpoints``: a running job's checkpoint as append-only entries (one per episode),
  so a worker on any machine resumes without a shared volume.
- ``workers``: each worker's heartbeat, for supervision and ``/healthz``.
- ``api_keys.revoked_at``: a revoked key authenticates nothing.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "job_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("entry", sa.JSON(), nullable=False),
    )
    op.create_index("ix_job_checkpoints_job_id", "job_checkpoints", ["job_id"])
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(100), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen", "workers")
    op.drop_table("workers")
    op.drop_index("ix_job_checkpoints_job_id", "job_checkpoints")
    op.drop_table("job_checkpoints")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("revoked_at")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("dispatched_at")
        batch.drop_column("generation")
