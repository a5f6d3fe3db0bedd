"""Named queues: a job with a ``queue`` is taken only by workers on that queue.

Measurements (``POST /hardware/measure``) name the queue of the machine to time on; search
jobs leave it NULL, the queue of every ordinary worker.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue", sa.String(64), nullable=True))
        batch.create_index("ix_jobs_queue_state", ["queue", "state"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_queue_state")
        batch.drop_column("queue")
