"""The first characters of each token, kept at creation so that the command line can list and
revoke tokens without ever showing one. Tokens made before this revision have none.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("prefix", sa.String(16), nullable=True))
    op.create_index("ix_tokens_prefix", "tokens", ["prefix"])


def downgrade() -> None:
    op.drop_index("ix_tokens_prefix", "tokens")
    # ALTER TABLE ... DROP COLUMN, on SQLite too (3.35 and later), rather than a rebuild.
    op.drop_column("tokens", "prefix")
