"""Users' uploads: ONNX models (POST /models) and .npz data sets (POST /datasets).

One row each; the file lives under the data dir, named by its SHA-256.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("uploaded_models", "uploaded_datasets")


def upgrade() -> None:
    for table in TABLES:
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("owner_id", sa.Integer(), sa.ForeignKey("api_keys.id"), nullable=False),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("filename", sa.String(255), nullable=False),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("size_bytes", sa.Integer(), nullable=False),
            sa.Column("report", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index(f"ix_{table}_owner_id", table, ["owner_id"])
        op.create_index(f"ix_{table}_sha256", table, ["sha256"])


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_index(f"ix_{table}_sha256", table)
        op.drop_index(f"ix_{table}_owner_id", table)
        op.drop_table(table)
