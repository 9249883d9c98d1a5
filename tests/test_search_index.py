"""Keyword search served by the trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL) finds
exactly what a plain scan finds: the same products, in the same order, the same total, for
keywords of any length and any characters, while products are added, renamed and deleted."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, inspect, select, text, update

from product_media.domain.product_edits import ProductSearch, SortBy
from product_media.storage.catalog import SqlCatalog, _filters, _order
from product_media.storage.engine import is_postgresql
from product_media.storage.tables import products, stores
from tests.databases import temporary_database

# Case pairs that ASCII folding does not join (E and e acute, the sigmas, sharp s, the Kelvin
# sign, dotted and dotless i), LIKE's wildcards and escape, quotes and what else FTS5 reads as
# syntax, a combining accent, an emoji.
SPECIAL = (
    "%_\\\"'*^:()-+ \u00c9\u00e9\u03a3\u03c3\u03c2\u1e9e\u00df\u212akK\u0130\u0131i\u0301\U0001f642"
)
LETTERS = "abcABC123"


def _alphabet(kind: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can, and FTS5 must not be fooled by it.
    return LETTERS + SPECIAL + ("\x00" if kind == "sqlite" else "")


@contextlib.contextmanager
def _catalog(kind: str, tmp_path: Path) -> Iterator[SqlCatalog]:
    with contextlib.ExitStack() as stack:
        if kind == "postgresql":
            url = stack.enter_context(temporary_database())
        else:
            url = f"sqlite:///{tmp_path / 'catalog.db'}"
        catalog = SqlCatalog(url)
        catalog.migrate()
        stack.callback(catalog.close)
        yield catalog


def _scanned(catalog: SqlCatalog, store: int, search: ProductSearch) -> tuple[int, list[int]]:
    """What the search finds by reading every product of the store: no index at all."""
    where = _filters(store, search, search_index=False)
    with catalog.engine.connect() as conn, conn.begin():
        if is_postgresql(conn):
            conn.execute(text("SET LOCAL enable_indexscan = off"))
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        total = conn.execute(select(func.count()).select_from(products).where(*where)).scalar()
        found = conn.execute(
            select(products.c.id).where(*where).order_by(*_order(search.sort_by)).limit(100)
        ).scalars()
        return int(total or 0), list(found)


def _searched(catalog: SqlCatalog, store: int, search: ProductSearch) -> tuple[int, list[int]]:
    total, found = catalog.list_products(store, search, offset=0, limit=100)
    return total, [product.id for product in found]


def _same(catalog: SqlCatalog, store: int, keyword: str, sort_by: SortBy | None = None) -> None:
    search = ProductSearch(keyword=keyword, sort_by=sort_by)
    assert _searched(catalog, store, search) == _scanned(catalog, store, search), repr(keyword)


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with _catalog(request.param, tmp_path_factory.mktemp("search")) as made:
        yield made


def test_the_index_is_there(catalog: SqlCatalog) -> None:
    """Else the other tests here would compare the scan with itself."""
    with catalog.engine.connect() as conn:
        if is_postgresql(conn):
            names = {index["name"] for index in inspect(conn).get_indexes("products")}
            assert {"ix_products_name_trgm", "ix_products_sku_trgm"} <= names
        else:
            assert inspect(conn).has_table("products_search")


_SKUS = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_search_finds_what_a_scan_finds(catalog: SqlCatalog, data: st.DataObject) -> None:
    kind = "postgresql" if is_postgresql(catalog.engine) else "sqlite"
    text_of = st.text(alphabet=_alphabet(kind), min_size=0, max_size=12)
    names = data.draw(st.lists(text_of.filter(bool), min_size=1, max_size=8), label="names")
    store = catalog.create_store("Search")
    ids = []
    for name in names:
        sku = data.draw(st.one_of(st.none(), text_of), label="sku")
        # SKUs are unique in a store; the suffix keeps them so without hiding what is drawn.
        sku = None if sku is None else f"{sku}#{next(_SKUS)}"
        ids.append(catalog.create_product(store, name, sku, 1.0))
    renamed = data.draw(st.lists(st.sampled_from(ids), max_size=3, unique=True), label="renamed")
    with catalog.engine.begin() as conn:
        for product_id in renamed:
            conn.execute(
                update(products)
                .where(products.c.id == product_id)
                .values(name=data.draw(text_of.filter(bool), label="new name"))
            )
    gone = data.draw(st.lists(st.sampled_from(ids), max_size=2, unique=True), label="deleted")
    for product_id in gone:
        catalog.delete_product(store, product_id)
    pieces = [
        data.draw(text_of.filter(bool), label="keyword"),
        *(
            name[start:end].swapcase()
            for name in names[:3]
            for start, end in [
                sorted(data.draw(st.lists(st.integers(0, len(name)), min_size=2, max_size=2)))
            ]
        ),
    ]
    for keyword in filter(None, pieces):
        _same(catalog, store, keyword)
    _same(catalog, store, pieces[0], data.draw(st.sampled_from(SortBy), label="sort"))


@pytest.mark.parametrize(
    "keyword",
    ["LINEN", "inen", "li", "n", "%", "_", "\\", '"', "'", "100%", "a_b", '"li', "nen 2", "ß"],
)
def test_keywords_of_every_kind(catalog: SqlCatalog, keyword: str) -> None:
    store = catalog.create_store("Kinds")
    for n, name in enumerate(["Linen 2", "100% linen", "a_b LINEN", 'say "linen"', "Maß", "ab"]):
        catalog.create_product(store, name, f"SKU-{n}-{name[:2]}", 1.0)
    _same(catalog, store, keyword)


def test_the_index_follows_every_write(catalog: SqlCatalog) -> None:
    store = catalog.create_store("Writes")
    kept = catalog.create_product(store, "Walnut shelf", "WAL-1", 1.0)
    renamed = catalog.create_product(store, "Oak shelf", "OAK-1", 1.0)
    deleted = catalog.create_product(store, "Walnut stool", "WAL-2", 1.0)
    with catalog.engine.begin() as conn:
        conn.execute(
            update(products).where(products.c.id == renamed).values(name="Walnut desk", sku="X")
        )
    catalog.delete_product(store, deleted)
    assert _searched(catalog, store, ProductSearch(keyword="walnut")) == (2, [kept, renamed])
    assert _searched(catalog, store, ProductSearch(keyword="oak")) == (0, [])
    assert _searched(catalog, store, ProductSearch(keyword="wal-2")) == (0, [])
    # A store's products go with it (ON DELETE CASCADE): their index entries too.
    with catalog.engine.begin() as conn:
        conn.execute(delete(stores).where(stores.c.id == store))
    assert _searched(catalog, store, ProductSearch(keyword="walnut")) == (0, [])
    other = catalog.create_store("After")
    again = catalog.create_product(other, "Walnut bench", None, 1.0)
    assert _searched(catalog, other, ProductSearch(keyword="WALNUT")) == (1, [again])


def test_a_keyword_holding_nul_scans_on_sqlite(tmp_path: Path) -> None:
    """FTS5 cannot read a query string past a NUL (it refuses it); such a keyword is served by
    the scan, whatever SQLite's LIKE makes of it."""
    with _catalog("sqlite", tmp_path) as catalog:
        store = catalog.create_store("NUL")
        catalog.create_product(store, "ab\x00cd", None, 1.0)
        catalog.create_product(store, "abcd", None, 1.0)
        for keyword in ("ab\x00cd", "b\x00c", "\x00cd"):
            _same(catalog, store, keyword)
