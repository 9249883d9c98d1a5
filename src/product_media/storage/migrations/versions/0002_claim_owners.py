"""Claims name the server process that holds them, so a sweep can drop a dead one's claims.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Claims from before this revision get no owner, so the next sweep treats them as dead.
    with op.batch_alter_table("blob_claims") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=False, server_default=""))
        batch.create_index("ix_blob_claims_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("blob_claims") as batch:
        batch.drop_index("ix_blob_claims_owner")
        batch.drop_column("owner")
