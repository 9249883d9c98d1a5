"""Products as Ecwid clients read and write them, image border colours, async image jobs, and
ids that are never handed out twice.

No table is rebuilt: on SQLite, Alembic's batch mode copies a table and drops the old one, and
with foreign keys on, that drop deletes every row that references it (images, videos, blob
references and gallery items go with their products). Columns are added and dropped in place.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import REGCLASS

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COUNTED = {"stores": ("stores",), "products": ("products",), "media": ("images", "videos")}


log = logging.getLogger(__name__)

_PRODUCTS = sa.table(
    "products", sa.column("id", sa.BigInteger), sa.column("store_id"), sa.column("sku")
)


def _unique_skus() -> None:
    """Give products that share a SKU with an older product of their store a SKU of their
    own (`SKU-<product id>`), so that the unique index can be built."""
    bind = op.get_bind()
    taken: dict[int, set[str]] = {}
    renamed: list[tuple[int, str]] = []
    found = bind.execute(
        sa.select(_PRODUCTS.c.id, _PRODUCTS.c.store_id, _PRODUCTS.c.sku)
        .where(_PRODUCTS.c.sku.is_not(None))
        .order_by(_PRODUCTS.c.id)
    )
    rows = list(found)
    for row in rows:
        taken.setdefault(row.store_id, set()).add(row.sku)
    seen: dict[int, set[str]] = {}
    for row in rows:
        store = seen.setdefault(row.store_id, set())
        if row.sku not in store:
            store.add(row.sku)
            continue
        sku = f"{row.sku}-{row.id}"
        while sku in taken[row.store_id]:
            sku = f"{sku}-{row.id}"
        taken[row.store_id].add(sku)
        renamed.append((row.id, sku))
    for product_id, sku in renamed:
        log.warning("product %d shared its SKU with an older product: now %r", product_id, sku)
        bind.execute(sa.update(_PRODUCTS).where(_PRODUCTS.c.id == product_id).values(sku=sku))


def upgrade() -> None:
    # A plain literal default: an expression would make Alembic rebuild the table on SQLite.
    op.add_column("products", sa.Column("enabled", sa.Boolean, nullable=False, server_default="1"))
    op.add_column("products", sa.Column("description", sa.Text, nullable=True))
    op.add_column("products", sa.Column("quantity", sa.BigInteger, nullable=True))
    op.add_column(
        "products", sa.Column("unlimited", sa.Boolean, nullable=False, server_default="1")
    )
    _unique_skus()
    op.drop_index("ix_products_store_sku", "products")
    op.create_index("ix_products_store_sku", "products", ["store_id", "sku"], unique=True)
    op.add_column("images", sa.Column("border", sa.JSON, nullable=True))
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
        # Generated ids are drawn before their insert from now on, so the serial sequences
        # must be past every id stored, one inserted with an explicit id included.
        for name in ("stores", "products"):
            sequence = sa.cast(sa.func.pg_get_serial_sequence(name, "id"), REGCLASS)
            drawn = sa.func.coalesce(sa.func.pg_sequence_last_value(sequence), 0)
            ids = sa.table(name, sa.column("id", sa.BigInteger))
            stored = sa.select(sa.func.coalesce(sa.func.max(ids.c.id), 0)).scalar_subquery()
            bind.execute(
                sa.select(sa.func.setval(sequence, sa.func.greatest(drawn, stored))).where(
                    stored > 0
                )
            )
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
            top: int = max(
                bind.execute(
                    sa.select(sa.func.coalesce(sa.func.max(sa.column("id")), 0)).select_from(
                        sa.table(table)
                    )
                ).scalar_one()
                for table in tables
            )
            rows.append({"name": name, "last": top})
        op.bulk_insert(counters, rows)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE media_ids")
    else:
        op.drop_table("id_counters")
    op.drop_index("ix_media_jobs_product", "media_jobs")
    op.drop_table("media_jobs")
    # ALTER TABLE ... DROP COLUMN, on SQLite too (3.35 and later), rather than a rebuild.
    op.drop_column("images", "border")
    op.drop_index("ix_products_store_sku", "products")
    op.create_index("ix_products_store_sku", "products", ["store_id", "sku"])
    for column in ("unlimited", "quantity", "description", "enabled"):
        op.drop_column("products", column)
