"""Indexes for every sort key of GET /policies (a page must not sort the whole table).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SORT_INDEXES = {
    "ix_policies_owner_accuracy": "accuracy",
    "ix_policies_owner_latency": "latency_ms",
    "ix_policies_owner_energy": "energy_mj",
    "ix_policies_owner_size": "size_mb",
}


def upgrade() -> None:
    for name, column in SORT_INDEXES.items():
        op.create_index(name, "policies", ["owner_id", column])


def downgrade() -> None:
    for name in SORT_INDEXES:
        op.drop_index(name, "policies")
