"""Published third-party Ecwid clients, unmodified but for their base URL and token options,
against a real server process (what a new user does first).

- `headless-js-api` (npm; Ecwid's own storefront client): `searchProducts`, `getProduct` and
  `getStoreProfile`, with a public and with a secret token (`Authorization: Bearer`).
- `ecwid-api-client` (npm): creates, lists, searches, reads, updates and deletes a product; it
  sends its token as `?token=` on every call, so the server runs with ALLOW_QUERY_TOKEN=1.

Neither has image calls; the products the storefront client reads have images all the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import media_factory, node_clients
from tests.service import Service
from tests.source_server import SourceServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return node_clients.install()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = {"PRODUCT_MEDIA_ALLOW_QUERY_TOKEN": "1", "PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0"}
    data = tmp_path_factory.mktemp("clients")
    service = Service(data, "--allow-source-network", "127.0.0.1/32", env=env).start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def shop(server: Service, sources: SourceServer) -> dict[str, Any]:
    """A store with two products, the first with a main image and a gallery image."""
    store_id, secret = server.new_store()
    public = server.new_token(store_id, public=True)
    base = f"/clients/{uuid.uuid4().hex}"
    main = sources.add(f"{base}/main.jpg", media_factory.jpeg(120, 90))
    extra = sources.add(f"{base}/extra.png", media_factory.png(60, 80))
    with server.client(secret) as api:
        ids = [
            api.post(f"/api/v3/{store_id}/products", json=body).json()["id"]
            for body in ({"name": "Reading lamp", "sku": "LAMP-1", "price": 30}, {"name": "Mug"})
        ]
        media = {"mainMedia": {"imageUrl": main}, "galleryMedia": [{"imageUrl": extra}]}
        response = api.put(f"/api/v3/{store_id}/products/{ids[0]}/media", json=media)
        assert response.status_code == 200, response.text
        product = api.get(f"/api/v3/{store_id}/products/{ids[0]}").json()
        profile = api.get(f"/api/v3/{store_id}/profile").json()
    assert len(product["media"]["images"]) == 2, product
    return {
        "store_id": store_id,
        "tokens": {"public": public, "secret": secret},
        "product": product,
        "profile": profile,
    }


@pytest.mark.parametrize("kind", ["public", "secret"])
def test_headless_js_api_reads_the_store(
    node_modules: Path, server: Service, shop: dict[str, Any], kind: str
) -> None:
    product = shop["product"]
    read = node_clients.run(
        node_modules,
        "headless.cjs",
        f"{server.url}/api/v3/",
        str(shop["store_id"]),
        shop["tokens"][kind],
        str(product["id"]),
        "lamp",
    )
    assert read["found"]["total"] == 1, read["found"]
    assert [item["id"] for item in read["found"]["items"]] == [product["id"]]
    # Exactly what the API answers, media included.
    assert read["product"] == product
    image = read["product"]["media"]["images"][0]
    with httpx.Client(trust_env=False) as http:
        assert http.get(image["image800pxUrl"]).headers["content-type"] == "image/jpeg"
    assert read["profile"] == shop["profile"]
    assert read["profile"]["generalInfo"]["storeId"] == shop["store_id"]
    assert read["missing"]["status"] == 404
    assert read["missing"]["data"]["errorCode"] == "PRODUCT_NOT_FOUND"


@pytest.fixture(scope="module")
def written(node_modules: Path, server: Service) -> dict[str, Any]:
    """What the writing client did, step by step, in a store of its own."""
    store_id, token = server.new_store()
    base = f"{server.url}/api/v3/{store_id}/"
    outcome: dict[str, Any] = node_clients.run(
        node_modules, "writer.cjs", base, str(store_id), token, "Desk lamp"
    )
    return outcome


def _result(written: dict[str, Any], name: str) -> Any:
    step = written["steps"][name]
    assert step["ok"], (name, step)
    return step["result"]


def test_writing_client_creates_lists_searches_reads_and_deletes(written: dict[str, Any]) -> None:
    product_id = _result(written, "add")["id"]
    assert written["id"] == product_id
    listed = _result(written, "getAll")
    assert [item["id"] for item in listed["items"]] == [product_id]
    found = _result(written, "search")
    assert [item["name"] for item in found["items"]] == ["Desk lamp"]
    product = _result(written, "get")
    assert (product["name"], product["sku"], product["price"]) == ("Desk lamp", "Desk lamp-1", 19.5)
    assert _result(written, "delete") == {"deleteCount": 1}
    gone = written["steps"]["getDeleted"]
    assert (gone["ok"], gone["status"], gone["data"]["errorCode"]) == (
        False,
        404,
        "PRODUCT_NOT_FOUND",
    )


def test_writing_client_updates(written: dict[str, Any]) -> None:
    """`PUT /products/{id}` with the fields the client sends."""
    assert _result(written, "update") == {"updateCount": 1}
    updated = _result(written, "getUpdated")
    assert (updated["name"], updated["price"]) == ("Desk lamp XL", 24)
