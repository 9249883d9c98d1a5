"""Many replicas: leases instead of lock files, deletion marks instead of a global lock, and
rate-limit counts every process shares.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blob_marks",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("marked_at", sa.Float, nullable=False),
    )
    op.create_index("ix_blob_marks_owner", "blob_marks", ["owner"])
    op.create_table(
        "owners",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("renewed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "rate_counts",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("window", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.drop_table("locks")


def downgrade() -> None:
    locks = op.create_table(
        "locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("counter", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.bulk_insert(locks, [{"name": "blobs", "counter": 0}])
    op.drop_table("rate_counts")
    op.drop_table("owners")
    op.drop_index("ix_blob_marks_owner", "blob_marks")
    op.drop_table("blob_marks")
