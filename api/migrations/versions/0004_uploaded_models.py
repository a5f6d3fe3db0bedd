"""Users' ONNX models (POST /models): one row each, the file under the data dir.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploaded_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_uploaded_models_owner_id", "uploaded_models", ["owner_id"])
    op.create_index("ix_uploaded_models_sha256", "uploaded_models", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_uploaded_models_sha256", "uploaded_models")
    op.drop_index("ix_uploaded_models_owner_id", "uploaded_models")
    op.drop_table("uploaded_models")
