"""CORS (DESIGN section 1): a storefront page in a browser may call the API with a public
token; answers, errors included, carry Access-Control-Allow-Origin for allowed origins, and
preflights allow the Authorization and Content-Type headers."""

from __future__ import annotations

from collections.abc import Iterator

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI

from product_media.api import cors, errors, observe
from product_media.settings import Settings, parse_origins
from tests.inprocess import EMBEDDED, InProcessService, running

SHOP = "https://shop.example"
OTHER = "https://evil.example"


@pytest.fixture(scope="module")
def any_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """The default: every origin (`*`); a rate limit of 2 a minute, to meet a 429."""
    service = InProcessService(tmp_path_factory.mktemp("cors"), EMBEDDED, rate_limit_per_minute=2)
    with running(service):
        yield service


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(
        tmp_path_factory.mktemp("cors-listed"),
        EMBEDDED,
        cors_origins=f"{SHOP}, https://admin.shop.example:8443/",
        rate_limit_per_minute=2,
    )
    with running(service):
        yield service


def _preflight(service: InProcessService, origin: str, method: str = "PUT") -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with service.client(None) as client:
        return client.options("/api/v3/1/products/1/media", headers=headers)


def _answers(service: InProcessService, origin: str) -> dict[str, httpx.Response]:
    """An answer of each kind a page meets, asked from `origin` with a public token."""
    store_id, public = service.new_store(public=True)
    headers = {"Origin": origin}
    with service.client(public) as client:
        answers = {
            "200": client.get(f"/api/v3/{store_id}/products", headers=headers),
            "404": client.get(f"/api/v3/{store_id}/products/987654321", headers=headers),
            "429": client.get(f"/api/v3/{store_id}/products", headers=headers),
        }
    with service.client(None) as client:
        answers["403"] = client.get(f"/api/v3/{store_id}/products", headers=headers)
    with service.client(public) as client:
        body = b'{"galleryMedia": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        answers["413"] = client.put(
            f"/api/v3/{store_id}/products/1/media",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        answers["/media"] = client.get("/media/none", headers=headers)
    for status, response in answers.items():
        assert status.startswith("/") or response.status_code == int(status), response.text
    return answers


def test_any_origin_by_default(any_origin: InProcessService) -> None:
    assert Settings().cors_origins == ("*",)
    for kind, response in _answers(any_origin, SHOP).items():
        assert response.headers.get("access-control-allow-origin") == "*", kind
        exposed = response.headers["access-control-expose-headers"].lower()
        assert "retry-after" in exposed and "x-request-id" in exposed, kind


def test_preflight_allows_authorization_and_content_type(any_origin: InProcessService) -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        response = _preflight(any_origin, SHOP, method)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        assert method in response.headers["access-control-allow-methods"].split(", ")
        allowed = response.headers["access-control-allow-headers"].lower().split(", ")
        assert {"authorization", "content-type"} <= set(allowed)


def test_listed_origin_is_echoed(listed: InProcessService) -> None:
    for origin in (SHOP, "https://admin.shop.example:8443"):
        for kind, response in _answers(listed, origin).items():
            assert response.headers.get("access-control-allow-origin") == origin, kind
            assert "origin" in response.headers.get("vary", "").lower(), kind
        preflight = _preflight(listed, origin)
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == origin


def test_other_origin_gets_no_grant(listed: InProcessService) -> None:
    # The server answers as usual; the browser then keeps the answer from the page.
    for kind, response in _answers(listed, OTHER).items():
        assert "access-control-allow-origin" not in response.headers, kind
    preflight = _preflight(listed, OTHER)
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_preflight_refuses_a_header_the_api_does_not_read(listed: InProcessService) -> None:
    headers = {
        "Origin": SHOP,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-something-else",
    }
    with listed.client(None) as client:
        response = client.options("/api/v3/1/products", headers=headers)
    assert response.status_code == 400


def test_no_origins_turn_cors_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    service = InProcessService(
        tmp_path_factory.mktemp("cors-off"), EMBEDDED, cors_origins="", rate_limit_per_minute=2
    )
    with running(service):
        for kind, response in _answers(service, SHOP).items():
            assert "access-control-allow-origin" not in response.headers, kind


def test_requests_without_origin_are_untouched(any_origin: InProcessService) -> None:
    with any_origin.client(None) as client:
        response = client.options("/api/v3/1/products")
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("text", "origins"),
    [
        ("*", ("*",)),
        ("", ()),
        (
            " https://Shop.Example/ ,http://127.0.0.1:3000",
            ("https://shop.example", "http://127.0.0.1:3000"),
        ),
    ],
)
def test_origins_setting(text: str, origins: tuple[str, ...]) -> None:
    assert parse_origins(text) == origins


@pytest.mark.parametrize(
    "text", ["shop.example", "https://shop.example/path", "ftp://x", "https://"]
)
def test_origins_setting_refuses_what_no_browser_sends(text: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        parse_origins(text)


def test_a_500_carries_the_header_too() -> None:
    """The wrapping itself: outside Starlette's 500 handler, which answers a bug on its own."""
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    cors.install(app, [SHOP])
    observe.install(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with anyio.from_thread.start_blocking_portal() as portal:

        async def call() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.get("/boom", headers={"Origin": SHOP})

        response = portal.call(call)
    assert response.status_code == 500
    assert response.json()["errorCode"] == "INTERNAL_ERROR"
    assert response.headers["access-control-allow-origin"] == SHOP
