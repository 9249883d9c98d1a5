"""Rendered products kept per revision are never stale, on any replica: three app instances on
one catalog (a SQLite file, and PostgreSQL), one writing, one reading through its cache of
rendered products, one with that cache off. After every kind of write the cached reader
answers exactly what the uncached one does; a revoked token is refused at once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, text

from product_media import metrics
from product_media.api.product_reads import ROUTE
from product_media.domain.access import token_hash
from product_media.domain.product import Product
from product_media.service.rendered import Rendered, RenderedProducts
from product_media.storage.catalog import SqlCatalog
from product_media.storage.tables import tokens
from tests import media_factory
from tests.databases import temporary_database
from tests.inprocess import Backend, InProcessService, running


class Replicas:
    def __init__(self, data: Path, backend: Backend) -> None:
        self.writer = InProcessService(data, backend)
        self.cached = InProcessService(data, backend)
        self.uncached = InProcessService(data, backend, read_cache_bytes=0)
        self.loads = 0

    @contextlib.contextmanager
    def running(self) -> Iterator[Replicas]:
        with contextlib.ExitStack() as stack:
            for service in (self.writer, self.cached, self.uncached):
                service.start()
                stack.callback(service.stop)
            catalog = self.cached.state.adapters.catalog
            loaded = catalog.get_product

            def counted(*args: Any) -> Any:
                self.loads += 1
                return loaded(*args)

            # Counts what the cached reader loads, so the tests see its cache at work.
            catalog.get_product = counted  # type: ignore[method-assign]
            yield self


@pytest.fixture(params=["sqlite", "postgresql"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replicas]:
    with contextlib.ExitStack() as stack:
        backend = Backend("sqlite+folder")
        if request.param == "postgresql":
            backend = Backend(
                "postgresql+folder", database_url=stack.enter_context(temporary_database())
            )
        yield stack.enter_context(Replicas(tmp_path, backend).running())


def _read(service: InProcessService, token: str, path: str) -> tuple[int, Any]:
    """The answer, its media URLs without the replica's own base URL."""
    with service.client(token) as client:
        response = client.get(path)
    return response.status_code, json.loads(response.text.replace(service.url, ""))


def _same_everywhere(replicas: Replicas, token: str, path: str) -> tuple[int, Any]:
    """Reads the product through the cached reader, checks it against the uncached one."""
    cached = _read(replicas.cached, token, path)
    assert cached == _read(replicas.uncached, token, path)
    return cached


def test_every_write_is_seen_at_once_on_another_replica(replicas: Replicas) -> None:
    store, token = replicas.writer.new_store()
    public = replicas.writer.new_token(store, public=True)
    writer = replicas.writer.client(token)
    created = writer.post(f"/api/v3/{store}/products", json={"name": "Lamp", "sku": "L-1"})
    path = f"/api/v3/{store}/products/{created.json()['id']}"

    def after(write: Any) -> tuple[int, Any]:
        _same_everywhere(replicas, token, path)
        loads = replicas.loads
        # Nothing changed since: the cached reader answers without loading the product.
        _same_everywhere(replicas, token, path)
        assert replicas.loads == loads
        response = write()
        assert response.status_code == 200, response.text
        seen = _same_everywhere(replicas, token, path)
        assert replicas.loads == loads + 1
        return seen

    image = media_factory.jpeg(64, 48)
    jpeg = {"Content-Type": "image/jpeg"}
    status, body = after(lambda: writer.put(path, json={"name": "Desk lamp", "price": 20}))
    assert (status, body["name"], body["price"]) == (200, "Desk lamp", 20)
    status, body = after(lambda: writer.post(f"{path}/image", content=image, headers=jpeg))
    assert "imageUrl" in body
    for _ in range(2):
        after(lambda: writer.post(f"{path}/gallery", content=image, headers=jpeg))
    status, body = _same_everywhere(replicas, token, path)
    first, second = (item["id"] for item in body["galleryImages"])
    edits = {"media": {"images": [{"id": "2", "orderBy": 1, "alt": {"main": "Side"}}]}}
    status, body = after(lambda: writer.put(path, json=edits))
    assert [item["id"] for item in body["galleryImages"]] == [second, first]
    status, body = after(lambda: writer.delete(f"{path}/gallery/{first}"))
    assert [item["id"] for item in body["galleryImages"]] == [second]
    status, body = after(lambda: writer.delete(f"{path}/image"))
    assert "imageUrl" not in body
    status, body = after(lambda: writer.put(path, json={"sku": "L-2", "quantity": 3}))
    assert (body["sku"], body["quantity"]) == ("L-2", 3)

    # A public token sees enabled products only, whichever replica kept the rendering.
    assert _read(replicas.cached, public, path)[0] == 200
    after(lambda: writer.put(path, json={"enabled": False}))
    assert _read(replicas.cached, public, path)[0] == 404
    assert _read(replicas.cached, token, path)[0] == 200

    assert writer.delete(path).status_code == 200
    assert _same_everywhere(replicas, token, path)[0] == 404


def test_a_revoked_token_is_refused_at_once_on_every_replica(replicas: Replicas) -> None:
    store, token = replicas.writer.new_store()
    with replicas.writer.client(token) as writer:
        created = writer.post(f"/api/v3/{store}/products", json={"name": "Rug"})
    path = f"/api/v3/{store}/products/{created.json()['id']}"
    assert _read(replicas.cached, token, path)[0] == 200
    engine = replicas.writer.state.adapters.catalog.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(delete(tokens).where(tokens.c.token_hash == token_hash(token)))
    status, body = _read(replicas.cached, token, path)
    assert (status, body["errorCode"]) == (403, "INVALID_API_TOKEN")


def _product(product_id: int, revision: int, enabled: bool = True) -> Product:
    return Product(product_id, 1, "Vase", None, 1.0, enabled=enabled, revision=revision)


def test_an_entry_serves_its_revision_only() -> None:
    rendered = RenderedProducts(1000)
    rendered.put(_product(7, revision=3), "https://a/media", b"three")
    assert rendered.get(7, "https://a/media", 3) == Rendered(3, True, b"three")
    assert rendered.get(7, "https://a/media", 4) is None
    assert rendered.get(7, "https://b/media", 3) is None
    assert rendered.get(8, "https://a/media", 3) is None


def test_the_least_recently_read_go_first_when_full() -> None:
    rendered = RenderedProducts(10)
    rendered.put(_product(1, 1), "", b"aaaa")
    rendered.put(_product(2, 1), "", b"bbbb")
    assert rendered.get(1, "", 1) is not None
    rendered.put(_product(3, 1), "", b"cccc")
    assert rendered.get(2, "", 1) is None
    assert rendered.get(1, "", 1) is not None and rendered.get(3, "", 1) is not None


@pytest.mark.parametrize("max_bytes", [0, 3])
def test_what_does_not_fit_is_answered_not_kept(max_bytes: int) -> None:
    rendered = RenderedProducts(max_bytes)
    entry = rendered.put(_product(1, 1, enabled=False), "", b"four")
    assert entry == Rendered(1, False, b"four")
    assert rendered.get(1, "", 1) is None


def test_a_kept_product_is_refused_as_the_route_refuses(tmp_path: Path) -> None:
    """Kept rendered, a product is still answered only to a token the route would admit."""
    with running(InProcessService(tmp_path, rate_limit_per_minute=3)) as service:
        store, token = service.new_store()
        _, other = service.new_store()
        unscoped = service.new_token(store, scopes="create_catalog")
        with service.client(token) as client:
            created = client.post(f"/api/v3/{store}/products", json={"name": "Jug"})
            path = f"/api/v3/{store}/products/{created.json()['id']}"
            assert client.get(path).status_code == 200
        for presented, status, code in [
            (other, 403, "INVALID_API_TOKEN"),
            (unscoped, 403, "INSUFFICIENT_APP_SCOPE"),
            (None, 403, "INVALID_API_TOKEN"),
            ("secret_unknown", 403, "INVALID_API_TOKEN"),
        ]:
            with service.client(presented) as client:
                response = client.get(path)
            assert (response.status_code, response.json()["errorCode"]) == (status, code)
        # The token's third request is answered from the kept rendering, its fourth refused.
        with service.client(token) as client:
            assert client.get(path).status_code == 200
            refused = client.get(path)
        assert (refused.status_code, refused.json()) == (
            429,
            {
                "errorMessage": "Too many requests: at most 3 a minute per token",
                "errorCode": "RATE_LIMITED",
            },
        )
        assert int(refused.headers["Retry-After"]) >= 1


def _requests_of(route: str) -> float:
    body, _ = metrics.render()
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "product_media_http_requests_total"
        and sample.labels == {"route": route, "method": "GET", "status": "200"}
    )


def test_a_kept_product_is_counted_under_its_route(tmp_path: Path) -> None:
    """Answered from its rendering, a read still counts in the metrics as the route's."""
    with running(InProcessService(tmp_path)) as service:
        store, token = service.new_store()
        with service.client(token) as client:
            created = client.post(f"/api/v3/{store}/products", json={"name": "Jug"})
            path = f"/api/v3/{store}/products/{created.json()['id']}"
            assert client.get(path).status_code == 200
            before = _requests_of(ROUTE)
            loaded = service.state.adapters.catalog.get_product
            service.state.adapters.catalog.get_product = None  # type: ignore[assignment,method-assign]
            try:
                for _ in range(3):
                    assert client.get(path).status_code == 200
            finally:
                service.state.adapters.catalog.get_product = loaded  # type: ignore[method-assign]
        assert _requests_of(ROUTE) - before == 3


def test_lookups_get_past_a_dropped_connection() -> None:
    """PostgreSQL's lookups skip the pool's ping; a connection the server dropped is replaced
    and the lookup made again."""
    with temporary_database() as url:
        catalog = SqlCatalog(url)
        try:
            catalog.migrate()
            store = catalog.create_store("Drops")
            product = catalog.create_product(store, "Cup", None, 1.0)
            catalog.add_token(store, "h" * 64, "secret", ["read_catalog"])
            made = catalog.grant_and_revision("h" * 64, store, product)[1]
            assert made is not None
            with catalog.engine.begin() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            grant, revision = catalog.grant_and_revision("h" * 64, store, product)
            assert grant is not None and grant[1].store_id == store and revision == made
            assert catalog.product_revision(store, product) == made
        finally:
            catalog.close()
