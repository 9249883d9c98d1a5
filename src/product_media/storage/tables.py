"""The catalog's tables (SQLAlchemy Core); migrations/ creates them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    column,
    func,
    table,
    true,
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


stores = Table(
    "stores",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(255), nullable=False, server_default=""),
    _created(),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("store_id", Id, ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("scopes", Text, nullable=False),
    _created(),
    # The token's first characters, for the command line to show; None for tokens made before
    # they were kept.
    Column("prefix", String(16), nullable=True),
    Index("ix_tokens_prefix", "prefix"),
)

products = Table(
    "products",
    metadata,
    Column("id", Id, primary_key=True),
    Column("store_id", Id, ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("sku", String(255), nullable=True),
    Column("price", Float, nullable=False, server_default="0"),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("description", Text, nullable=True),
    # None while `unlimited`.
    Column("quantity", BigInteger, nullable=True),
    Column("unlimited", Boolean, nullable=False, server_default=true()),
    Column("main_image_id", Id, nullable=True),
    Column("main_video_id", Id, nullable=True),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Grows with every write to the product or its media, in that write's transaction.
    Column("revision", BigInteger, nullable=False, server_default="0"),
    Index("ix_products_store_sku", "store_id", "sku", unique=True),
)

# SQLite only, where FTS5 is available: the trigram index of products' names and SKUs that
# keyword search reads (migration 0008), kept in step with products by triggers.
products_search = table("products_search", column("rowid", Integer), column("products_search"))

images = Table(
    "images",
    metadata,
    Column("id", Id, primary_key=True),
    Column("store_id", Id, nullable=False),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("alt", JSON, nullable=True),
    # Ecwid's borderInfo: the dominating colour of the image's border and whether it is even.
    Column("border", JSON, nullable=True),
    Index("ix_images_product", "product_id"),
)

videos = Table(
    "videos",
    metadata,
    Column("id", Id, primary_key=True),
    Column("store_id", Id, nullable=False),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=True),
    Column("provider_name", String(32), nullable=False, server_default=""),
    Column("title", Text, nullable=False, server_default=""),
    Column("cover_image_id", Id, nullable=True),
    Index("ix_videos_product", "product_id"),
)

# Every stored file an image or video uses; a blob no row names (and no claim holds) is garbage.
blob_refs = Table(
    "blob_refs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(128), nullable=False),
    Column("content_type", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("image_id", Id, ForeignKey("images.id", ondelete="CASCADE"), nullable=True),
    Column("video_id", Id, ForeignKey("videos.id", ondelete="CASCADE"), nullable=True),
    Index("ix_blob_refs_key", "key"),
    Index("ix_blob_refs_image", "image_id"),
    Index("ix_blob_refs_video", "video_id"),
)

gallery_items = Table(
    "gallery_items",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("image_id", Id, nullable=True),
    Column("video_id", Id, nullable=True),
)

# A claim keeps freshly written blobs alive between their write and the commit that uses them.
blob_claims = Table(
    "blob_claims",
    metadata,
    Column("id", Id, primary_key=True),
    Column("claim", String(64), nullable=False),
    # The server process that holds the claim; its claims go when it does.
    Column("owner", String(64), nullable=False, server_default=""),
    Column("key", String(128), nullable=False),
    _created(),
    Index("ix_blob_claims_claim", "claim"),
    Index("ix_blob_claims_key", "key"),
    Index("ix_blob_claims_owner", "owner"),
)

# A blob being deleted right now: a claim on it waits until the mark is gone (the delete done).
blob_marks = Table(
    "blob_marks",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("owner", String(64), nullable=False),
    # Database time, epoch seconds: a mark older than a lease is a delete that never finished.
    Column("marked_at", Float, nullable=False),
    Index("ix_blob_marks_owner", "owner"),
)

# One row per running server process: it renews `renewed_at` (database time, epoch seconds)
# while it lives; one that stops renewing for the owner lease is dead.
owners = Table(
    "owners",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False, server_default=""),
    Column("pid", Integer, nullable=False, server_default="0"),
    Column("started_at", Float, nullable=False),
    Column("renewed_at", Float, nullable=False),
)

# Requests per token per minute window, summed over every server process (the rate limit).
rate_counts = Table(
    "rate_counts",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("window", BigInteger, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False, server_default="0"),
)

# An accepted async image upload (POST .../image/async, .../gallery/async) not yet processed.
# Its id is the id its image will have; a job whose owner has died is taken up by any server.
media_jobs = Table(
    "media_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("store_id", BigInteger, nullable=False),
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    # "main" or "gallery".
    Column("target", String(16), nullable=False),
    Column("url", Text, nullable=False),
    # What else the request gave (width, height, alt, externalId).
    Column("details", JSON, nullable=True),
    Column("owner", String(64), nullable=True),
    Column("claimed_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("accepted_at", DateTime(timezone=True), server_default=func.now()),
    Index("ix_media_jobs_product", "product_id"),
)

# The items of each product's last media update and their results, as the media page shows
# them (URLs without query strings); it goes with its product.
media_reports = Table(
    "media_reports",
    metadata,
    Column("product_id", Id, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("store_id", Id, nullable=False),
    Column("reported_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("report", JSON, nullable=False),
)

# What a store's source URL answered when it was last fetched: its validators, for a
# conditional fetch next time, and the key of the original its bytes made. A cache: a row is
# used only while an image of the same store still holds that original, and losing every row
# costs one full fetch per source.
source_validators = Table(
    "source_validators",
    metadata,
    Column(
        "store_id",
        Id,
        ForeignKey("stores.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    # SHA-256 (hex) of the URL: URLs are long and may carry secrets in their query strings.
    Column("url_hash", String(64), primary_key=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("original_key", String(128), nullable=False),
)

# SQLite only: the last id handed out per kind ("stores", "products", "media": images and
# videos share one), since SQLite would give a deleted last row's id again. PostgreSQL uses
# sequences (`media_ids` for images and videos).
id_counters = Table(
    "id_counters",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("last", BigInteger, nullable=False),
)
