"""Products as Ecwid clients read and write them, image border colours, async image jobs, and
ids that are never handed out twice.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COUNTED = {"stores": ("stores",), "products": ("products",), "media": ("images", "videos")}


def upgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("description", sa.Text, nullable=True))
        batch.add_column(sa.Column("quantity", sa.BigInteger, nullable=True))
        batch.add_column(
            sa.Column("unlimited", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.drop_index("ix_products_store_sku")
        batch.create_index("ix_products_store_sku", ["store_id", "sku"], unique=True)
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("border", sa.JSON, nullable=True))
    op.create_table(
        "media_jobs",
        # The id of the image the job makes, handed out when the job was accepted.
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("store_id", sa.BigInteger, nullable=False),
        sa.Column(
            "product_id",
            sa.BigInteger,
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("accepted_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_index("ix_media_jobs_product", "media_jobs", ["product_id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Images and videos draw their ids from one sequence, past every id either holds.
        op.execute("CREATE SEQUENCE media_ids AS bigint")
        op.execute(
            "SELECT setval('media_ids', greatest(1, (SELECT coalesce(max(id), 0) FROM images),"
            " (SELECT coalesce(max(id), 0) FROM videos)),"
            " (SELECT count(*) FROM images) + (SELECT count(*) FROM videos) > 0)"
        )
    else:
        # SQLite hands out max(id) + 1, so a deleted last row's id would come back; the last id
        # handed out of each kind is kept here instead.
        counters = op.create_table(
            "id_counters",
            sa.Column("name", sa.String(16), primary_key=True),
            sa.Column("last", sa.BigInteger, nullable=False),
        )
        rows = []
        for name, tables in _COUNTED.items():
            last: int = max(
                bind.execute(
                    sa.select(sa.func.coalesce(sa.func.max(sa.column("id")), 0)).select_from(
                        sa.table(table)
                    )
                ).scalar_one()
                for table in tables
            )
            rows.append({"name": name, "last": last})
        op.bulk_insert(counters, rows)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE media_ids")
    else:
        op.drop_table("id_counters")
    op.drop_index("ix_media_jobs_product", "media_jobs")
    op.drop_table("media_jobs")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("border")
    with op.batch_alter_table("products") as batch:
        batch.drop_index("ix_products_store_sku")
        batch.create_index("ix_products_store_sku", ["store_id", "sku"])
        for column in ("unlimited", "quantity", "description", "enabled"):
            batch.drop_column(column)
