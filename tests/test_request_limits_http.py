"""The gallery-size limit of a media update, at its default and as a setting; which bodies
reach which routes."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from product_media.api.app import UPLOADS
from product_media.api.limits import BodyLimits
from tests import media_factory
from tests.inprocess import EMBEDDED, InProcessService, running
from tests.source_server import SourceServer


def _gallery(url: str, count: int) -> dict[str, object]:
    return {"galleryMedia": [{"imageUrl": f"{url}?n={i}"} for i in range(count)]}


def _product(client: httpx.Client, store_id: int) -> str:
    created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
    return f"/api/v3/{store_id}/products/{created.json()['id']}"


def _unique(name: str) -> str:
    """A path no other test (or run on another backend) uses, so hit counts are this test's."""
    return f"/limits/{uuid.uuid4().hex}/{name}"


def test_a_hundred_gallery_items_pass_and_one_more_does_not(
    service: InProcessService, api: httpx.Client, store: tuple[int, str], sources: SourceServer
) -> None:
    path = _product(api, store[0])
    source = _unique("one.jpg")
    url = sources.add(source, media_factory.jpeg(64, 48))
    refused = api.put(f"{path}/media", json=_gallery(url, 101))
    assert refused.status_code == 400
    assert refused.json()["errorCode"] == "WRONG_PARAMETER"
    assert "100" in refused.json()["errorMessage"]
    assert sources.hits(source) == 0, "refused before anything is fetched"
    assert api.get(path).json()["galleryImages"] == []

    accepted = api.put(f"{path}/media", json=_gallery(url, 100))
    assert accepted.status_code == 200
    assert all(item["success"] for item in accepted.json()["galleryMedia"])
    assert sources.hits(source) == 100
    assert len(api.get(path).json()["galleryImages"]) == 100


def test_the_gallery_limit_is_a_setting(
    tmp_path: Path, sources: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment twin of the setting, as an operator sets it; no keyword argument.
    monkeypatch.setenv("PRODUCT_MEDIA_MAX_GALLERY_ITEMS", "3")
    with running(InProcessService(tmp_path / "data", EMBEDDED)) as service:
        assert service.settings.max_gallery_items == 3
        store_id, token = service.new_store()
        source = _unique("two.jpg")
        url = sources.add(source, media_factory.jpeg(64, 48))
        with service.client(token) as client:
            path = _product(client, store_id)
            refused = client.put(f"{path}/media", json=_gallery(url, 4))
            assert refused.status_code == 400
            assert refused.json()["errorCode"] == "WRONG_PARAMETER"
            assert sources.hits(source) == 0, "refused before anything is fetched"
            accepted = client.put(f"{path}/media", json=_gallery(url, 3))
            assert accepted.status_code == 200
            assert all(item["success"] for item in accepted.json()["galleryMedia"])
            assert len(client.get(path).json()["galleryImages"]) == 3


def _echo_app(max_upload_bytes: int) -> BodyLimits:
    """An app that answers the size and type of whatever body reached it."""

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"size": len(body), "type": request.headers.get("content-type")})

    routes = [Route("/{rest:path}", echo, methods=["POST", "PUT"])]
    return BodyLimits(
        Starlette(routes=routes),
        max_bytes=100,
        uploads=UPLOADS,
        max_upload_bytes=max_upload_bytes,
    )


@pytest.mark.parametrize(
    ("method", "path", "content_type", "size", "status"),
    [
        ("POST", "/api/v3/1/products/2/image", "image/jpeg", 1000, 200),
        ("POST", "/api/v3/1/products/2/gallery", "application/octet-stream", 1000, 200),
        ("PUT", "/api/v3/1/products/2/gallery/video/5", "image/jpeg", 1000, 200),
        ("POST", "/api/v3/1/products/2/image", "image/png", 1001, 413),
        ("POST", "/api/v3/1/products/2/image", "application/json", 10, 415),
        ("POST", "/api/v3/1/products/2/gallery", "application/x-www-form-urlencoded", 10, 415),
        ("POST", "/api/v3/1/products/2/image/async", "image/jpeg", 10, 415),
        ("PUT", "/api/v3/1/products/2/media", "application/octet-stream", 10, 415),
        ("PUT", "/api/v3/1/products/2/media", "application/json", 101, 413),
        ("GET", "/api/v3/1/products/2/image", "image/jpeg", 0, 405),
    ],
)
def test_image_bytes_reach_the_upload_routes_alone(
    method: str, path: str, content_type: str, size: int, status: int
) -> None:
    transport = httpx.ASGITransport(app=_echo_app(max_upload_bytes=1000))
    answer = anyio.run(_send, transport, method, path, content_type, b"x" * size)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"size": size, "type": content_type}
    elif status in (413, 415):
        assert answer.json()["errorCode"] in ("REQUEST_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")


async def _send(
    transport: httpx.ASGITransport, method: str, path: str, content_type: str, body: bytes
) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(
            method, path, content=body, headers={"Content-Type": content_type}
        )
