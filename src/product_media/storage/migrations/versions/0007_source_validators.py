"""Source validators: what a store's source URL answered last time, so that a re-sync fetches
conditionally and reuses the files an unchanged source made.

A disposable cache: `product-media migrate` does not carry it (a new catalog starts without
it and its first sync of each source is a full fetch).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "source_validators",
        sa.Column(
            "store_id",
            _ID,
            sa.ForeignKey("stores.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("url_hash", sa.String(64), primary_key=True),
        sa.Column("etag", sa.Text, nullable=True),
        sa.Column("last_modified", sa.Text, nullable=True),
        sa.Column("original_key", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_validators")
