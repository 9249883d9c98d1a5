"""`product-media migrate`: a catalog and its blobs copied from the embedded backend (SQLite and
a folder) to PostgreSQL and the S3 stand-in, or to another SQLite and folder; resumable,
checked blob by blob, refusing what it must not touch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from product_media.domain.blob_keys import blob_key
from product_media.domain.media import Alt, Blob, Image, MediaSet, Video, VideoFiles
from product_media.domain.plan import ItemResult
from product_media.domain.product import Product
from product_media.domain.product_edits import ProductSearch
from product_media.domain.update_report import ReportedItem, UpdateReport
from product_media.service.blob_lifetimes import write_claimed
from product_media.storage.catalog import SqlCatalog
from product_media.storage.engine import make_engine
from product_media.storage.folder_blobs import FolderBlobStore
from product_media.storage.migration import (
    CATALOG_TABLES,
    MigrationFailed,
    MigrationRefused,
    blob_location,
    copy_backend,
    prepare_target,
    target_blob_store,
)
from product_media.storage.ports import BlobStore, ByteRange, OpenedBlob
from product_media.storage.s3_blobs import S3BlobStore
from product_media.storage.tables import blob_refs
from tests.databases import temporary_database
from tests.media_model import stored_image_files
from tests.s3_server import fresh_bucket_name
from tests.service import cli

# A store with an id given explicitly, far past the generated ones: the target's id sequences
# must move past it.
BIG_STORE_ID = 5000


@dataclass
class Source:
    """The embedded backend under `data`, with stores, tokens, products and media in it."""

    data: Path
    catalog: SqlCatalog
    blobs: FolderBlobStore
    products: list[tuple[int, int]]
    contents: dict[str, bytes]
    unreferenced: str
    job: int | None = None
    deleted_product: int = 0
    deleted_media: int = 0

    @property
    def url(self) -> str:
        return f"sqlite:///{self.data / 'catalog.db'}"


def _give_media(source: Source, store: int, product: int, seed: str) -> None:
    """A main image with alt text, a gallery image, a video file with a cover and a shared
    image (the same blobs in every product)."""
    main, contents = stored_image_files(f"{seed}-main")
    extra, more = stored_image_files(f"{seed}-extra")
    shared, shared_contents = stored_image_files("shared")
    cover, cover_contents = stored_image_files(f"{seed}-cover")
    movie = f"{seed}-movie".encode()
    movie_key = blob_key(movie, "mp4")
    contents |= more | shared_contents | cover_contents | {movie_key: movie}
    video = Video(VideoFiles(file=Blob(movie_key, "video/mp4"), title="clip", cover=cover))
    media = MediaSet(
        main_image=Image(main, alt=Alt("main", {"fr": "principale"})),
        main_video=video,
        gallery=(Image(extra), Image(shared)),
    )
    claim = f"claim-{seed}"
    write_claimed(source.catalog, source.blobs, claim, "test", contents)
    # And the report of the update that set them, as the media page shows it.
    report = UpdateReport(
        main=ReportedItem(f"https://{seed}.example/main.jpg", None, ItemResult(True, id="0")),
        gallery=(ReportedItem(None, f"https://{seed}.example/v.mp4", ItemResult(True, id="1")),),
    )
    assert source.catalog.update_media(
        store, product, claim, lambda _current: (media, None), report=lambda _outcome: report
    )
    source.contents |= contents


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    data = tmp_path / "data"
    data.mkdir()
    catalog = SqlCatalog(f"sqlite:///{data / 'catalog.db'}")
    catalog.migrate()
    blobs = FolderBlobStore(data / "media")
    src = Source(data, catalog, blobs, [], {}, "")
    for store in (catalog.create_store("first"), catalog.create_store("big", BIG_STORE_ID)):
        hashed = hashlib.sha256(f"t{store}".encode()).hexdigest()
        # The kept prefix goes along with the token (the dump compares every column).
        catalog.add_token(store, hashed, "secret", ["x"], prefix=f"secret_t{store}"[:12])
        for n in range(2):
            product = catalog.create_product(store, f"product {n}", f"SKU-{n}", 1.5 + n)
            src.products.append((store, product))
            _give_media(src, store, product, f"{store}-{n}")
    # A product without media, and a blob nothing references (it must stay behind).
    src.products.append((BIG_STORE_ID, catalog.create_product(BIG_STORE_ID, "bare", None, 0)))
    # An async image job not run yet, and the ids of a product and an image deleted since:
    # the target never hands those out either.
    store, product = src.products[0]
    src.job = catalog.add_media_job(store, product, "gallery", "https://shop.example/a.jpg", {})
    src.deleted_product = catalog.create_product(store, "gone", None, 0)
    catalog.delete_product(store, src.deleted_product)
    src.deleted_media = catalog.reserve_media_id()
    orphan = b"nobody's"
    src.unreferenced = blob_key(orphan, "jpg")
    blobs.put(src.unreferenced, orphan)
    yield src
    catalog.close()


def _dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every catalog row, table by table, in key order; times as UTC instants (SQLite keeps
    them naive, PostgreSQL in its session's zone)."""
    with engine.connect() as conn:
        return {
            table.name: [
                {name: _instant(value) for name, value in row.items()}
                for row in conn.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).mappings()
            ]
            for table in CATALOG_TABLES
        }


def _dump_at(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    try:
        return _dump(engine)
    finally:
        engine.dispose()


def _instant(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _folder_state(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _products(catalog: SqlCatalog, ids: list[tuple[int, int]]) -> list[Product | None]:
    return [catalog.get_product(store, product) for store, product in ids]


def _searched(catalog: SqlCatalog, stores: set[int]) -> list[tuple[int, list[int]]]:
    """Keyword searches the target's own index serves (it is built there, not copied)."""
    found = []
    for store in sorted(stores):
        for keyword in ("PRODUCT 1", "sku-0", "bare", "t 0"):
            total, items = catalog.list_products(
                store, ProductSearch(keyword=keyword), offset=0, limit=100
            )
            found.append((total, [item.id for item in items]))
    return found


def _referenced(source: Source) -> set[str]:
    with source.catalog.engine.connect() as conn:
        return set(conn.execute(select(blob_refs.c.key)).scalars())


def _assert_blobs(blobs: BlobStore, expected: dict[str, bytes]) -> None:
    assert set(blobs.keys()) == set(expected), "exactly the referenced blobs, nothing else"
    for key, content in expected.items():
        opened = blobs.open(key)
        assert opened is not None
        try:
            stored = b"".join(opened.chunks)
        finally:
            opened.close()
        assert stored == content
        assert hashlib.sha256(stored).hexdigest() == key.partition(".")[0]


def _migrate(source: Source, target: Engine, target_blobs: BlobStore) -> None:
    engine = make_engine(source.url)
    try:
        prepare_target(engine, target)
        copy_backend(engine, source.blobs, target, target_blobs)
    finally:
        engine.dispose()


class _FailingAfter:
    """A blob store that breaks down (as a process killed would stop) after `puts` writes."""

    def __init__(self, inner: BlobStore, puts: int) -> None:
        self._inner = inner
        self._left = puts

    def _spend(self) -> None:
        if self._left == 0:
            raise ConnectionError("the target went away")
        self._left -= 1

    def put(self, key: str, content: bytes) -> None:
        self._spend()
        self._inner.put(key, content)

    def put_file(self, key: str, path: Path) -> None:
        self._spend()
        self._inner.put_file(key, path)

    def open(self, key: str, byte_range: ByteRange | None = None) -> OpenedBlob | None:
        return self._inner.open(key, byte_range)

    def exists(self, key: str) -> bool:
        return self._inner.exists(key)

    def delete(self, key: str) -> None:
        self._inner.delete(key)

    def keys(self) -> Iterator[str]:
        return self._inner.keys()

    def partial_write_owners(self) -> set[str]:
        return self._inner.partial_write_owners()

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        self._inner.clear_partial_writes(owners)

    def ping(self) -> None:
        self._inner.ping()


def _assert_ids_go_on(source: Source, target: SqlCatalog) -> None:
    """Generated ids go past every id the source handed out, of rows deleted since too; the
    job came along, held by nobody."""
    assert target.create_store("later") > BIG_STORE_ID
    assert target.create_product(BIG_STORE_ID, "later", None, 0) > source.deleted_product
    assert source.job is not None and source.deleted_media > source.job
    assert target.reserve_media_id() > source.deleted_media
    assert target.media_job_owners() == set()
    job = target.claim_media_job("owner", set())
    assert job is not None and job.id == source.job


def _scaled_args(database_url: str, bucket: str, endpoint: str) -> list[str]:
    return [
        "migrate",
        "--to-database-url",
        database_url,
        "--to-blob-url",
        f"s3://{bucket}/media",
        "--to-s3-endpoint-url",
        endpoint,
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("aws_env")
def test_migrates_to_postgresql_and_s3(source: Source, s3_endpoint: str) -> None:
    bucket = fresh_bucket_name()
    expected = {key: source.contents[key] for key in _referenced(source)}
    with temporary_database() as url:
        done = cli(source.data, *_scaled_args(url, bucket, s3_endpoint))
        assert f"blobs: {len(expected)} of {len(expected)} copied (0 already there)" in done.stderr
        assert "catalog: 2 stores, 2 tokens, 5 products" in done.stderr
        assert (
            done.stdout.strip()
            == f"migrated 2 stores, 2 tokens, 5 products and {len(expected)} blobs"
        )

        target = SqlCatalog(url)
        try:
            assert _products(target, source.products) == _products(source.catalog, source.products)
            assert _dump(target.engine) == _dump(source.catalog.engine)
            _assert_blobs(S3BlobStore(f"s3://{bucket}/media", endpoint_url=s3_endpoint), expected)

            _assert_ids_go_on(source, target)
            store, product = source.products[0]
            carried = target.update_report(store, product)
            assert carried is not None and carried == source.catalog.update_report(store, product)
        finally:
            target.close()


@pytest.mark.slow
@pytest.mark.usefixtures("aws_env")
def test_an_interrupted_migration_resumes(source: Source, s3_endpoint: str) -> None:
    bucket = fresh_bucket_name()
    expected = {key: source.contents[key] for key in _referenced(source)}
    with temporary_database() as url:
        target = make_engine(url)
        try:
            s3 = target_blob_store(f"s3://{bucket}/media", s3_endpoint)
            with pytest.raises(ConnectionError):
                _migrate(source, target, _FailingAfter(s3, 4))
            assert all(not rows for rows in _dump(target).values()), "no catalog row yet"
            assert len(set(s3.keys())) == 4
        finally:
            target.dispose()

        done = cli(source.data, *_scaled_args(url, bucket, s3_endpoint))
        assert f"blobs: {len(expected)} of {len(expected)} copied (4 already there)" in done.stderr
        _assert_blobs(s3, expected)
        assert _dump_at(url) == _dump(source.catalog.engine)


@pytest.mark.slow
def test_a_non_empty_target_is_refused(source: Source, tmp_path: Path) -> None:
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    target = SqlCatalog(target_url)
    target.migrate()
    target.create_store("already here")
    target.close()
    before = _dump(source.catalog.engine), _folder_state(source.data / "media")

    refused = cli(
        source.data,
        "migrate",
        "--to-database-url",
        target_url,
        "--to-blob-url",
        str(tmp_path / "target-media"),
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "Error: the target catalog is not empty (stores has rows): migrate into an empty one"
    ]
    assert (_dump(source.catalog.engine), _folder_state(source.data / "media")) == before
    assert not (tmp_path / "target-media").exists()


@pytest.mark.slow
def test_a_corrupt_source_blob_stops_the_migration(source: Source, tmp_path: Path) -> None:
    key = sorted(_referenced(source))[3]
    path = source.data / "media" / key[:2] / key[2:4] / key
    path.write_bytes(b"not what the key says")
    target_url = f"sqlite:///{tmp_path / 'target.db'}"

    failed = cli(
        source.data,
        "migrate",
        "--to-database-url",
        target_url,
        "--to-blob-url",
        f"file://{tmp_path / 'target-media'}",
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        f"Error: blob {key} in the source does not match its key (corrupt)"
    )
    assert all(not rows for rows in _dump_at(target_url).values())


def test_migrates_to_sqlite_and_a_folder(source: Source, tmp_path: Path) -> None:
    expected = {key: source.contents[key] for key in _referenced(source)}
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    target = make_engine(target_url)
    blobs = target_blob_store(blob_location(f"file://{tmp_path / 'target-media'}"), None)
    try:
        _migrate(source, target, blobs)
        assert _dump(target) == _dump(source.catalog.engine)
        _assert_blobs(blobs, expected)
        assert source.unreferenced not in set(blobs.keys())
    finally:
        target.dispose()
    catalog = SqlCatalog(target_url)
    try:
        assert _products(catalog, source.products) == _products(source.catalog, source.products)
        stores = {store for store, _ in source.products}
        assert _searched(catalog, stores) == _searched(source.catalog, stores)
        _assert_ids_go_on(source, catalog)
    finally:
        catalog.close()


def test_a_round_trip_through_postgresql_changes_nothing(source: Source, tmp_path: Path) -> None:
    """PostgreSQL as the source too: its snapshot, its time zones, its batches."""
    expected = {key: source.contents[key] for key in _referenced(source)}
    with temporary_database() as url:
        middle = make_engine(url)
        middle_blobs = FolderBlobStore(tmp_path / "middle-media")
        back_url = f"sqlite:///{tmp_path / 'back.db'}"
        back = make_engine(back_url)
        back_blobs = FolderBlobStore(tmp_path / "back-media")
        try:
            _migrate(source, middle, middle_blobs)
            stores = {store for store, _ in source.products}
            on_postgresql = SqlCatalog(url)
            try:
                assert _searched(on_postgresql, stores) == _searched(source.catalog, stores)
            finally:
                on_postgresql.close()
            prepare_target(middle, back)
            report = copy_backend(middle, middle_blobs, back, back_blobs)
            assert _dump(back) == _dump(middle) == _dump(source.catalog.engine)
        finally:
            middle.dispose()
            back.dispose()
    assert report.blobs == len(expected) and report.blobs_present == 0
    assert report.rows["products"] == len(source.products)
    _assert_blobs(back_blobs, expected)


def test_a_damaged_target_blob_is_copied_again(source: Source, tmp_path: Path) -> None:
    expected = {key: source.contents[key] for key in _referenced(source)}
    blobs = FolderBlobStore(tmp_path / "target-media")
    damaged = sorted(expected)[0]
    blobs.put(damaged, b"half a file")
    blobs.put(sorted(expected)[1], expected[sorted(expected)[1]])
    target = make_engine(f"sqlite:///{tmp_path / 'target.db'}")
    source_engine = make_engine(source.url)
    lines: list[str] = []
    try:
        prepare_target(source_engine, target)
        copy_backend(source_engine, source.blobs, target, blobs, lines.append)
    finally:
        source_engine.dispose()
        target.dispose()
    assert f"blobs: {len(expected)} of {len(expected)} copied (1 already there)" in lines
    _assert_blobs(blobs, expected)


def test_a_missing_source_blob_stops_the_migration(source: Source, tmp_path: Path) -> None:
    missing = sorted(_referenced(source))[-1]
    source.blobs.delete(missing)
    target = make_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with pytest.raises(MigrationFailed, match=f"blob {missing} is missing from the source"):
            _migrate(source, target, FolderBlobStore(tmp_path / "target-media"))
        assert all(not rows for rows in _dump(target).values())
    finally:
        target.dispose()


def test_the_source_itself_is_refused(source: Source) -> None:
    engine = make_engine(source.url)
    # The same file, spelled differently.
    target = make_engine(f"sqlite:///{source.data}/../data/catalog.db")
    try:
        with pytest.raises(MigrationRefused, match="the target database is the source database"):
            prepare_target(engine, target)
    finally:
        engine.dispose()
        target.dispose()


def test_a_missing_source_catalog_is_refused_and_not_created(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'none.db'}")
    with pytest.raises(MigrationRefused, match="there is no source catalog"):
        prepare_target(engine, make_engine(f"sqlite:///{tmp_path / 'target.db'}"))
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("url", ["http://example.com/x", "file://host/x", "s3://", "s3://B"])
def test_unusable_blob_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        blob_location(url)


def test_blob_locations() -> None:
    assert blob_location("s3://bucket/media") == "s3://bucket/media"
    assert blob_location("file:///srv/media%20files") == Path("/srv/media files")
    assert blob_location("relative/media") == Path("relative/media")
