"""Reads under load: a hash per uploaded table, indexes for filtered and sorted policy pages.

- ``hardware_tables.sha256``: the content's SHA-256, so a parsed table is cached per
  (id, hash) and a listing never reads the text (up to the 5 MB upload limit). Existing
  rows are hashed here.
- policies: an index per (owner, model) and the page's main sorts (newest, accuracy,
  latency), and per (owner, target) newest first: a page filtered by model or target
  reads its own rows in order instead of walking the owner's whole sort index, and its
  count reads only the index.

Revision ID: 0006
Revises: 0005
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FILTER_INDEXES = {
    "ix_policies_owner_model_created": ["owner_id", "model", "created_at"],
    "ix_policies_owner_model_accuracy": ["owner_id", "model", "accuracy"],
    "ix_policies_owner_model_latency": ["owner_id", "model", "latency_ms"],
    "ix_policies_owner_target_created": ["owner_id", "target", "created_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("hardware_tables") as batch:
        batch.add_column(sa.Column("sha256", sa.String(64), nullable=True))
    tables = sa.table("hardware_tables", sa.column("id", sa.Integer), sa.column("content", sa.Text), sa.column("sha256", sa.String))
    connection = op.get_bind()
    for row_id in connection.execute(sa.select(tables.c.id)).scalars().all():  # one text (MBs) in memory at a time
        content = connection.execute(sa.select(tables.c.content).where(tables.c.id == row_id)).scalar_one()
        digest = hashlib.sha256(content.encode()).hexdigest()
        connection.execute(tables.update().where(tables.c.id == row_id).values(sha256=digest))
    with op.batch_alter_table("hardware_tables") as batch:
        batch.alter_column("sha256", existing_type=sa.String(64), nullable=False)
    for name, columns in FILTER_INDEXES.items():
        op.create_index(name, "policies", columns)


def downgrade() -> None:
    for name in FILTER_INDEXES:
        op.drop_index(name, "policies")
    with op.batch_alter_table("hardware_tables") as batch:
        batch.drop_column("sha256")
