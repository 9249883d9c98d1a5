"""`product-media migrate`: copy a catalog and every blob it references from one backend to
another (the embedded SQLite and folder to PostgreSQL and S3, say).

Blobs go first, each checked against its key on both sides, so a re-run after an interruption
skips what arrived whole; the catalog goes last in one transaction, so the target catalog is
either empty or complete. Stop the servers on the source first: a blob that an update deletes
during the copy is reported missing.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, Engine, RowMapping, Table, insert, inspect, select
from sqlalchemy.engine import URL

from product_media.domain.blob_keys import is_blob_key
from product_media.storage import ids
from product_media.storage.engine import (
    SCHEMA_REVISION,
    is_postgresql,
    migrate,
    schema_revision,
    write_transaction,
)
from product_media.storage.folder_blobs import FolderBlobStore
from product_media.storage.ports import BlobStore
from product_media.storage.s3_blobs import S3BlobStore, parse_blob_url
from product_media.storage.tables import (
    blob_refs,
    gallery_items,
    images,
    media_jobs,
    media_reports,
    products,
    stores,
    tokens,
    videos,
)

# Rows per INSERT round trip, and per fetch from the source.
BATCH = 1000

# Foreign-key order: each row's parents are written before it. The other tables (claims, marks,
# owners, rate counts) are the running servers' state, not the catalog's; so are the holders
# of async jobs, which are copied as nobody's. The id counters differ by backend (ids.py).
CATALOG_TABLES: tuple[Table, ...] = (
    stores,
    tokens,
    products,
    images,
    videos,
    blob_refs,
    gallery_items,
    media_jobs,
    media_reports,
)

# A row in any of these makes a catalog non-empty; every other row hangs off a product.
_OWNING_TABLES: tuple[Table, ...] = (stores, tokens, products)

Progress = Callable[[str], None]


class MigrationRefused(Exception):
    """The migration may not run: nothing was copied (the command exits 2)."""


class MigrationFailed(Exception):
    """A blob is missing or does not match its key: no catalog row was written (exits 1)."""


@dataclass(frozen=True)
class MigrationReport:
    """What was copied: blobs (of them, `blobs_present` were in the target already) and rows
    per table name."""

    blobs: int
    blobs_present: int
    rows: dict[str, int]


def _silent(_line: str) -> None:
    pass


def blob_location(blob_url: str) -> str | Path:
    """What a target blob URL names: `s3://bucket[/prefix]` (returned as it is, checked), or a
    folder, given as `file:///absolute/path` or a plain path. Raises ValueError otherwise."""
    parts = urlsplit(blob_url)
    if parts.scheme == "s3":
        parse_blob_url(blob_url)
        return blob_url
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment or not parts.path:
            raise ValueError(f"a folder URL is file:///absolute/path, not {blob_url!r}")
        return Path(unquote(parts.path))
    if "://" in blob_url:
        raise ValueError(
            f"a blob URL is s3://bucket[/prefix], file:///path or a path, not {blob_url!r}"
        )
    return Path(blob_url)


def target_blob_store(location: str | Path, s3_endpoint_url: str | None) -> BlobStore:
    """The blob store at a `blob_location`; a missing bucket is created. Raises
    BlobStoreUnavailable when the bucket can be neither found nor made."""
    if isinstance(location, Path):
        return FolderBlobStore(location)
    store = S3BlobStore(location, endpoint_url=s3_endpoint_url)
    store.ensure_bucket()
    return store


def prepare_target(source: Engine, target: Engine, progress: Progress = _silent) -> None:
    """Refuse a migration that may not run (MigrationRefused), then bring the target schema up
    to date. Only reads the source."""
    if _same_database(source.url, target.url):
        raise MigrationRefused("the target database is the source database")
    _check_source(source)
    # Checked before migrating, so a refused target is left exactly as it was.
    with target.connect() as conn:
        _refuse_rows(conn)
    migrate(target)
    progress(f"schema: target at revision {SCHEMA_REVISION}")


def copy_backend(
    source: Engine,
    source_blobs: BlobStore,
    target: Engine,
    target_blobs: BlobStore,
    progress: Progress = _silent,
) -> MigrationReport:
    """Copy every blob the source catalog references, then the catalog, into a target that
    `prepare_target` has checked and migrated. Raises MigrationFailed on a missing or corrupt
    blob, before any catalog row is written."""
    with _snapshot(source) as src:
        keys = list(
            src.execute(select(blob_refs.c.key).distinct().order_by(blob_refs.c.key)).scalars()
        )
        present = copy_blobs(keys, source_blobs, target_blobs)
        progress(f"blobs: {len(keys)} of {len(keys)} copied ({present} already there)")
        with write_transaction(target) as dst:
            # Something may have written to the target since prepare_target looked.
            _refuse_rows(dst)
            rows = {table.name: _copy_rows(src, dst, table) for table in CATALOG_TABLES}
            progress("catalog: " + ", ".join(f"{n} {name}" for name, n in rows.items()))
            # The rows came with their ids, which the target did not hand out; nor may it hand
            # out any the source did, of rows deleted since included.
            for kind in ids.KINDS:
                ids.move_past(dst, kind, ids.last_issued(src, kind))
            progress("ids: generated ids go on past every id the source handed out")
    return MigrationReport(blobs=len(keys), blobs_present=present, rows=rows)


def copy_blobs(keys: Sequence[str], source: BlobStore, target: BlobStore) -> int:
    """Copy each of `keys` through a temporary file (a video is never held in memory),
    checking its bytes against the key before and after the write; returns how many the
    target had already (checked too)."""
    present = 0
    for key in keys:
        digest = _digest_in(key)
        stored = _stored_digest(target, key)
        if stored == digest:
            present += 1
            continue
        if stored is not None:
            # A damaged copy; put would keep it, as it skips keys that exist.
            target.delete(key)
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / key
            if _spool(source, key, copy) != digest:
                raise MigrationFailed(f"blob {key} in the source does not match its key (corrupt)")
            target.put_file(key, copy)
        if _stored_digest(target, key) != digest:
            raise MigrationFailed(f"blob {key} does not read back from the target as written")
    return present


def _digest_in(key: str) -> str:
    """The SHA-256 (hex) that a key says its blob's bytes have."""
    if not is_blob_key(key):
        raise MigrationFailed(f"the source catalog names {key!r}, which is not a blob key")
    return key.partition(".")[0]


def _spool(store: BlobStore, key: str, path: Path) -> str:
    """Write the blob to `path`, streamed; returns the SHA-256 (hex) of its bytes."""
    opened = store.open(key)
    if opened is None:
        raise MigrationFailed(f"blob {key} is missing from the source")
    try:
        digest = hashlib.sha256()
        with path.open("wb") as file:
            for chunk in opened.chunks:
                digest.update(chunk)
                file.write(chunk)
        return digest.hexdigest()
    finally:
        opened.close()


def _stored_digest(store: BlobStore, key: str) -> str | None:
    """The SHA-256 (hex) of the stored bytes, streamed; None when the key is not there."""
    opened = store.open(key)
    if opened is None:
        return None
    try:
        digest = hashlib.sha256()
        for chunk in opened.chunks:
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        opened.close()


def _same_database(a: URL, b: URL) -> bool:
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        if not a.database or not b.database or ":memory:" in (a.database, b.database):
            return False
        return Path(a.database).resolve() == Path(b.database).resolve()
    return (a.host or "localhost", a.port or 5432, a.database) == (
        b.host or "localhost",
        b.port or 5432,
        b.database,
    )


def _check_source(source: Engine) -> None:
    url = source.url
    # Connecting to a SQLite file that is not there would create it.
    if (
        url.get_backend_name() == "sqlite"
        and url.database
        and url.database != ":memory:"
        and not Path(url.database).is_file()
    ):
        raise MigrationRefused(f"there is no source catalog at {url.database}")
    with source.connect() as conn:
        revision = schema_revision(conn)
    if revision != SCHEMA_REVISION:
        raise MigrationRefused(
            f"the source catalog is at schema revision {revision or 'none'}, not "
            f"{SCHEMA_REVISION}: start this version's server on it once (it migrates at start)"
        )


def _refuse_rows(conn: Connection) -> None:
    present = set(inspect(conn).get_table_names())
    for table in _OWNING_TABLES:
        if table.name in present and conn.execute(select(table.c.id).limit(1)).first():
            raise MigrationRefused(
                f"the target catalog is not empty ({table.name} has rows): "
                "migrate into an empty one"
            )


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction on the source for the whole copy, so the blobs copied are exactly
    those the copied rows reference."""
    with engine.connect() as conn:
        if is_postgresql(conn):
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


def _copy_rows(src: Connection, dst: Connection, table: Table) -> int:
    query = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=BATCH)
    count = 0
    for batch in src.execute(query).mappings().partitions():
        dst.execute(insert(table), [_portable(row, table) for row in batch])
        count += len(batch)
    return count


def _portable(row: RowMapping, table: Table) -> dict[str, Any]:
    values = {
        name: _utc(value) if isinstance(value, datetime) else value for name, value in row.items()
    }
    if table is media_jobs:
        # A job's holder is a server of the source; in the target nobody holds it yet.
        values.update(owner=None, claimed_at=None)
    return values


def _utc(value: datetime) -> datetime:
    # SQLite keeps CURRENT_TIMESTAMP as naive UTC; PostgreSQL hands out the session's zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
