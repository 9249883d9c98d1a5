"""The first catalog: stores, tokens, products and their media.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _created() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        _created(),
    )
    op.create_table(
        "tokens",
        sa.Column("id", Id, primary_key=True),
        sa.Column("store_id", Id, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        _created(),
    )
    op.create_table(
        "products",
        sa.Column("id", Id, primary_key=True),
        sa.Column("store_id", Id, sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sku", sa.String(255), nullable=True),
        sa.Column("price", sa.Float, nullable=False, server_default="0"),
        sa.Column("main_image_id", Id, nullable=True),
        sa.Column("main_video_id", Id, nullable=True),
        _created(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("ix_products_store_sku", "products", ["store_id", "sku"])
    op.create_table(
        "images",
        sa.Column("id", Id, primary_key=True),
        sa.Column("store_id", Id, nullable=False),
        sa.Column(
            "product_id", Id, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("alt", sa.JSON, nullable=True),
    )
    op.create_index("ix_images_product", "images", ["product_id"])
    op.create_table(
        "videos",
        sa.Column("id", Id, primary_key=True),
        sa.Column("store_id", Id, nullable=False),
        sa.Column(
            "product_id", Id, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("provider_name", sa.String(32), nullable=False, server_default=""),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("cover_image_id", Id, nullable=True),
    )
    op.create_index("ix_videos_product", "videos", ["product_id"])
    op.create_table(
        "blob_refs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("image_id", Id, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=True),
        sa.Column("video_id", Id, sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=True),
    )
    op.create_index("ix_blob_refs_key", "blob_refs", ["key"])
    op.create_index("ix_blob_refs_image", "blob_refs", ["image_id"])
    op.create_index("ix_blob_refs_video", "blob_refs", ["video_id"])
    op.create_table(
        "gallery_items",
        sa.Column(
            "product_id",
            Id,
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("image_id", Id, nullable=True),
        sa.Column("video_id", Id, nullable=True),
    )
    op.create_table(
        "blob_claims",
        sa.Column("id", Id, primary_key=True),
        sa.Column("claim", sa.String(64), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        _created(),
    )
    op.create_index("ix_blob_claims_claim", "blob_claims", ["claim"])
    op.create_index("ix_blob_claims_key", "blob_claims", ["key"])
    locks = op.create_table(
        "locks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("counter", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.bulk_insert(locks, [{"name": "blobs", "counter": 0}])


def downgrade() -> None:
    for table in (
        "locks",
        "blob_claims",
        "gallery_items",
        "blob_refs",
        "videos",
        "images",
        "products",
        "tokens",
        "stores",
    ):
        op.drop_table(table)
