"""Product revisions and an index for keyword search.

`products.revision` takes a new value, from one counter for the whole catalog, with every
write to a product or its media, in the transaction of the write: a rendered product kept
beside its revision is current exactly while the revision is.

Keyword search (name or SKU contains the keyword) gets an index that serves substrings: on
SQLite an FTS5 table with the trigram tokenizer over products' names and SKUs, kept in step
by triggers on every insert, update of name or SKU, and delete; on PostgreSQL GIN indexes
of pg_trgm's trigram operator class, which serve ILIKE directly. Where FTS5 or pg_trgm is
not available the migration says so and search scans, as before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_SQLITE_SEARCH = (
    # External content: the index keeps trigrams only, the text stays in products.
    "CREATE VIRTUAL TABLE products_search USING fts5("
    "name, sku, content='products', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN "
    "INSERT INTO products_search(rowid, name, sku) VALUES (new.id, new.name, new.sku); END",
    "CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN "
    "INSERT INTO products_search(products_search, rowid, name, sku) "
    "VALUES ('delete', old.id, old.name, old.sku); END",
    "CREATE TRIGGER products_search_update AFTER UPDATE OF name, sku ON products BEGIN "
    "INSERT INTO products_search(products_search, rowid, name, sku) "
    "VALUES ('delete', old.id, old.name, old.sku); "
    "INSERT INTO products_search(rowid, name, sku) VALUES (new.id, new.name, new.sku); END",
    "INSERT INTO products_search(products_search) VALUES ('rebuild')",
)

# fastupdate off: a new product goes straight into the index rather than into a pending list
# that every search reads through until the next vacuum.
_POSTGRESQL_SEARCH = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_products_name_trgm ON products USING gin (name gin_trgm_ops) "
    "WITH (fastupdate = off)",
    "CREATE INDEX ix_products_sku_trgm ON products USING gin (sku gin_trgm_ops) "
    "WITH (fastupdate = off)",
)


def _search_index(statements: tuple[str, ...], what: str) -> None:
    bind = op.get_bind()
    try:
        # In a savepoint: on PostgreSQL a failed statement would abort the whole migration.
        with bind.begin_nested():
            for statement in statements:
                bind.execute(sa.text(statement))
    except sa.exc.DBAPIError as exc:
        log.warning("%s is not available, keyword search scans: %s", what, exc.orig)


def upgrade() -> None:
    op.add_column(
        "products", sa.Column("revision", sa.BigInteger, nullable=False, server_default="0")
    )
    # Revisions are drawn from one counter for the whole catalog (storage/ids.py), so a product
    # made again with an old id never repeats one of its earlier revisions.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE product_revisions AS bigint")
    else:
        op.execute("INSERT INTO id_counters (name, last) VALUES ('revisions', 0)")
    if op.get_bind().dialect.name == "postgresql":
        _search_index(_POSTGRESQL_SEARCH, "pg_trgm")
    else:
        _search_index(_SQLITE_SEARCH, "FTS5 with the trigram tokenizer")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE product_revisions")
        op.execute("DROP INDEX IF EXISTS ix_products_sku_trgm")
        op.execute("DROP INDEX IF EXISTS ix_products_name_trgm")
    else:
        op.execute("DROP TRIGGER IF EXISTS products_search_insert")
        op.execute("DROP TRIGGER IF EXISTS products_search_delete")
        op.execute("DROP TRIGGER IF EXISTS products_search_update")
        op.execute("DROP TABLE IF EXISTS products_search")
        op.execute("DELETE FROM id_counters WHERE name = 'revisions'")
    op.drop_column("products", "revision")
