"""Ids that are never handed out twice, and the schema revision that brought them (0004), on
SQLite and PostgreSQL: upgraded and downgraded under a catalog with data, nothing lost."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text

from product_media.domain.media import Blob, Image, MediaSet, Video, VideoFiles
from product_media.storage.catalog import SqlCatalog
from product_media.storage.engine import SCHEMA_REVISION, write_transaction
from tests.databases import temporary_database
from tests.media_model import image_files


@contextlib.contextmanager
def _url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "postgresql":
        with temporary_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlCatalog]:
    with _url(request.param, tmp_path) as url:
        catalog = SqlCatalog(url)
        catalog.migrate()
        yield catalog
        catalog.close()


def _set(catalog: SqlCatalog, store: int, product: int, media: MediaSet) -> MediaSet:
    catalog.claim("c", "test", media.blob_keys())
    assert catalog.update_media(store, product, "c", lambda _current: (media, None)) is not None
    stored = catalog.get_product(store, product)
    assert stored is not None
    return stored.media


def _video(name: str) -> Video:
    return Video(VideoFiles(file=Blob(f"{name}.mp4", "video/mp4"), cover=image_files(name)))


def test_a_deleted_last_product_id_is_not_handed_out_again(catalog: SqlCatalog) -> None:
    store = catalog.create_store("s")
    first = catalog.create_product(store, "a", None, 0)
    last = catalog.create_product(store, "b", None, 0)
    assert last > first
    assert catalog.delete_product(store, last) is not None
    assert catalog.create_product(store, "c", None, 0) > last


def test_a_deleted_last_store_id_is_not_handed_out_again(catalog: SqlCatalog) -> None:
    last = catalog.create_store("s")
    with write_transaction(catalog.engine) as conn:
        conn.execute(text("DELETE FROM stores WHERE id = :id"), {"id": last})
    assert catalog.create_store("t") > last


def test_images_and_videos_draw_from_one_sequence_that_never_goes_back(
    catalog: SqlCatalog,
) -> None:
    store = catalog.create_store("s")
    product = catalog.create_product(store, "p", None, 0)
    media = _set(
        catalog,
        store,
        product,
        MediaSet(Image(image_files("a")), _video("v"), (Image(image_files("b")), _video("w"))),
    )
    main_video, gallery_video = media.main_video, media.gallery[1]
    assert isinstance(main_video, Video) and isinstance(gallery_video, Video)
    given = [
        media.main_image.id if media.main_image else None,
        main_video.id,
        main_video.cover_id,
        media.gallery[0].id,
        gallery_video.id,
        gallery_video.cover_id,
    ]
    assert None not in given and len(set(given)) == len(given), "one id names one item"
    # Everything deleted, the largest ids included: new ones still go past them.
    _set(catalog, store, product, MediaSet())
    top = max(i for i in given if i is not None)
    reserved = catalog.reserve_media_id()
    assert reserved > top
    again = _set(catalog, store, product, MediaSet(Image(image_files("c"))))
    assert again.main_image is not None and again.main_image.id is not None
    assert again.main_image.id > reserved


def test_a_reserved_id_is_the_one_the_image_gets(catalog: SqlCatalog) -> None:
    store = catalog.create_store("s")
    product = catalog.create_product(store, "p", None, 0)
    reserved = catalog.reserve_media_id()
    media = _set(catalog, store, product, MediaSet(gallery=(Image(image_files("a"), id=reserved),)))
    assert [item.id for item in media.gallery] == [reserved]
    # Kept as it is when the set is written again with it.
    media = _set(catalog, store, product, MediaSet(Image(image_files("b")), None, media.gallery))
    assert [item.id for item in media.gallery] == [reserved]


def test_a_media_set_is_written_in_as_many_statements_whatever_its_size(
    catalog: SqlCatalog,
) -> None:
    store = catalog.create_store("s")

    def statements(media: MediaSet) -> tuple[int, MediaSet]:
        product = catalog.create_product(store, "p", None, 0)
        catalog.claim("c", "test", media.blob_keys())
        sent: list[str] = []

        def count(*args: object) -> None:
            sent.append(str(args[2]))

        event.listen(catalog.engine, "before_cursor_execute", count)
        try:
            assert catalog.update_media(store, product, "c", lambda _: (media, None)) is not None
        finally:
            event.remove(catalog.engine, "before_cursor_execute", count)
        stored = catalog.get_product(store, product)
        assert stored is not None
        return len(sent), stored.media

    small, _ = statements(MediaSet(Image(image_files("a")), None, (Image(image_files("b")),)))
    images = tuple(Image(image_files(f"g{i}")) for i in range(20))
    large, media = statements(MediaSet(Image(image_files("m")), None, images))
    assert large == small
    ids = [media.main_image.id if media.main_image else None, *(i.id for i in media.gallery)]
    assert ids == sorted({i for i in ids if i is not None}), "new ids ascend in gallery order"


# -- revision 0004 under data -----------------------------------------------------------------


def _alembic(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(files("product_media.storage").joinpath("migrations"))
    )
    with write_transaction(engine) as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


_ROWS_AT_0003 = [
    "INSERT INTO stores (id, name) VALUES (3, 's'), (9, 't')",
    "INSERT INTO products (id, store_id, name, sku) VALUES (1, 3, 'a', 'X'), (2, 3, 'b', 'X'),"
    " (4, 3, 'c', 'X-2'), (5, 9, 'd', 'X'), (6, 3, 'e', NULL), (7, 3, 'f', NULL)",
    "INSERT INTO images (id, store_id, product_id, width, height) VALUES (10, 3, 1, 5, 5),"
    " (11, 3, 1, 5, 5), (30, 3, 2, 5, 5)",
    "INSERT INTO videos (id, store_id, product_id, url, cover_image_id) VALUES"
    " (12, 3, 1, 'https://youtu.be/x', 30)",
    "INSERT INTO blob_refs (key, content_type, role, image_id) VALUES"
    " ('k1', 'image/jpeg', 'original', 10), ('k2', 'image/jpeg', 'original', 11)",
    "INSERT INTO gallery_items (product_id, position, image_id, video_id) VALUES"
    " (1, 1, 11, NULL), (1, 2, NULL, 12)",
    "UPDATE products SET main_image_id = 10 WHERE id = 1",
]
_COUNTED = ("stores", "products", "images", "videos", "blob_refs", "gallery_items")


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in _COUNTED}


def _skus(engine: Engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        return {row.id: row.sku for row in conn.execute(text("SELECT id, sku FROM products"))}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_revision_0004_up_and_down_keeps_every_row(kind: str, tmp_path: Path) -> None:
    with _url(kind, tmp_path) as url:
        catalog = SqlCatalog(url)
        try:
            _alembic(catalog.engine, "0003")
            with write_transaction(catalog.engine) as conn:
                for statement in _ROWS_AT_0003:
                    conn.execute(text(statement))
            before = _counts(catalog.engine)

            _alembic(catalog.engine, "0004")
            assert _counts(catalog.engine) == before, "no row lost (no table rebuilt)"
            # Duplicate SKUs within a store: the oldest product keeps it, the others get
            # their own, never one that is taken (X-2 is); other stores are not concerned.
            assert _skus(catalog.engine) == {1: "X", 2: "X-2-2", 4: "X-2", 5: "X", 6: None, 7: None}
            # The catalog's code reads the newest schema.
            _alembic(catalog.engine, SCHEMA_REVISION)
            assert _counts(catalog.engine) == before
            product = catalog.get_product(3, 1)
            assert product is not None
            assert (product.enabled, product.unlimited, product.quantity) == (True, True, None)
            assert product.description is None
            assert product.media.main_image is not None and product.media.main_image.id == 10
            assert [item.id for item in product.media.gallery] == [11, 12]
            # Generated ids go past every id stored before.
            assert catalog.create_store("new") > 9
            assert catalog.create_product(3, "new", None, 0) > 7
            assert catalog.reserve_media_id() > 30

            _alembic(catalog.engine, "0003", down=True)
            after_down = _counts(catalog.engine)
            assert after_down == {**before, "stores": 3, "products": 7}
            _alembic(catalog.engine, "0004")
            assert _counts(catalog.engine) == after_down
        finally:
            catalog.close()
