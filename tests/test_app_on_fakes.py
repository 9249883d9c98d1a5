"""The HTTP app handed fakes instead of real adapters (create_app takes them): what the edge
does when a part of the deployment is away, in microseconds and without a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from product_media.api.app import create_app
from product_media.settings import Settings
from product_media.storage.ports import BlobStoreUnavailable
from tests.fakes import FakeDeployment
from tests.inprocess import _AppTransport
from tests.media_factory import jpeg


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeDeployment, httpx.Client]]:
    world = FakeDeployment()
    app = create_app(Settings(data=tmp_path), world.adapters)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        transport = _AppTransport(app, portal)
        headers = {"Authorization": f"Bearer {world.token}"}
        with httpx.Client(base_url="http://fake", headers=headers, transport=transport) as client:
            yield world, client
    assert world.leases.alive == set(), "the lease ends with the app"


def test_a_media_update_on_fakes(world: tuple[FakeDeployment, httpx.Client]) -> None:
    w, client = world
    product = w.catalog.create_product(w.store, "Lamp", None, 1)
    w.fetcher.files["https://shop.example/a.jpg"] = jpeg(120, 80)
    body = {"mainMedia": {"imageUrl": "https://shop.example/a.jpg"}}
    response = client.put(f"/api/v3/{w.store}/products/{product}/media", json=body)
    assert response.json() == {"mainMedia": {"success": True, "id": "0"}, "galleryMedia": []}
    shown = client.get(f"/api/v3/{w.store}/products/{product}").json()
    original = shown["originalImageUrl"].removeprefix("http://fake")
    assert client.get(original).content == w.fetcher.files["https://shop.example/a.jpg"]
    assert len(w.blobs.blobs) == 2, "the original and one derived file (120 px fits every box)"


def test_readiness_names_the_part_that_is_away(world: tuple[FakeDeployment, httpx.Client]) -> None:
    w, client = world
    assert client.get("/readyz").json() == {"status": "ok"}

    def away() -> None:
        raise BlobStoreUnavailable("bucket away")

    w.blobs.ping = away  # type: ignore[method-assign]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": ["blobs"]}
    w.catalog.ping = away  # type: ignore[method-assign]
    assert client.get("/readyz").json()["failing"] == ["database", "blobs"]
    assert client.get("/healthz").json() == {"status": "ok"}, "the process itself is up"
