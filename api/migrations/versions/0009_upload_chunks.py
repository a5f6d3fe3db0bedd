"""Uploaded models and data sets kept in the store as well as under the data dir, so a worker
on another machine (its own data dir) can run a job on them (``api.upload_blobs``). Files
uploaded before this revision are copied in when ``hwsearch serve`` starts, from its data dir.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_chunks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upload_chunks")
