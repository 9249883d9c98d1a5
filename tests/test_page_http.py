"""The media page (DESIGN section 9) over ASGI, on each backend: what it shows, that it escapes
what users wrote, who may read it (Bearer, or the form's cookie, which the API ignores), and
that one store's products never show to another store's token. Offline /docs and /redoc too.
"""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from markupsafe import escape

from tests.inprocess import InProcessService, running
from tests.media_factory import jpeg, png
from tests.source_server import SourceServer
from tests.video_factory import webm

HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'


class _Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str, name: str) -> list[dict[str, str | None]]:
    parser = _Tags()
    parser.feed(page)
    return [attrs for tag, attrs in parser.tags if tag == name]


def _product(api: httpx.Client, store_id: int, name: str, **fields: Any) -> int:
    body = {"name": name, "sku": f"S-{uuid.uuid4().hex[:12]}", **fields}
    response = api.post(f"/api/v3/{store_id}/products", json=body)
    assert response.status_code == 200, response.text
    product_id: int = response.json()["id"]
    return product_id


def _media(api: httpx.Client, store_id: int, product_id: int, body: dict[str, Any]) -> Any:
    response = api.put(f"/api/v3/{store_id}/products/{product_id}/media", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _shown(api: httpx.Client, store_id: int, product_id: int) -> Any:
    response = api.get(f"/api/v3/{store_id}/products/{product_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _form_key(service: InProcessService) -> str:
    """What a browser holds after loading the page: the form cookie, repeated by the form."""
    with service.client(None) as anonymous:
        response = anonymous.get("/")
    key = response.cookies.get("product_media_form")
    assert key, response.headers
    (field,) = [f for f in tags(response.text, "input") if f.get("name") == "form_key"]
    assert field["value"] == key
    return key


def _sign_in(service: InProcessService, token: str) -> str:
    """The page's cookie after the form took `token`."""
    key = _form_key(service)
    with service.client(None) as browser:
        response = browser.post(
            "/page/tokens",
            content=f"token={token}&form_key={key}",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"product_media_form={key}",
            },
        )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    set_cookie = response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie, set_cookie
    assert "Path=/" in set_cookie
    cookie = response.cookies.get("product_media_page")
    assert cookie is not None
    return cookie


def _page(service: InProcessService, path: str, cookie: str) -> httpx.Response:
    with service.client(None) as browser:
        return browser.get(path, headers={"Cookie": f"product_media_page={cookie}"})


@pytest.fixture
def shop(
    service: InProcessService, api: httpx.Client, store: tuple[int, str], sources: SourceServer
) -> dict[str, Any]:
    """A product with a main image, a gallery of an image, a failed image and a WebM video,
    alt texts set, and another, disabled product."""
    tag = uuid.uuid4().hex
    main = sources.add(f"/page/{tag}/main.jpg", jpeg(640, 480))
    side = sources.add(f"/page/{tag}/side.png", png(300, 200))
    clip = sources.add(f"/page/{tag}/clip.webm", webm(seconds=1.0))
    store_id = store[0]
    product_id = _product(api, store_id, f"Shirt {HOSTILE}")
    results = _media(
        api,
        store_id,
        product_id,
        {
            "mainMedia": {"imageUrl": main},
            "galleryMedia": [
                {"imageUrl": side + "?signature=very-secret"},
                {"imageUrl": sources.url(f"/page/{tag}/missing.jpg?sig=hidden-value")},
                {"videoUrl": clip},
            ],
        },
    )
    edited = api.put(
        f"/api/v3/{store_id}/products/{product_id}",
        json={
            "media": {
                "images": [
                    {"id": "0", "alt": {"main": f"Front {HOSTILE}"}},
                    {"id": "1", "alt": {"main": "Side", "translated": {"de": "Seite"}}},
                ]
            }
        },
    )
    assert edited.status_code == 200, edited.text
    hidden = _product(api, store_id, "Hidden shirt", enabled=False)
    return {
        "store_id": store_id,
        "product_id": product_id,
        "hidden_id": hidden,
        "results": results,
        "shown": _shown(api, store_id, product_id),
    }


def test_without_a_token_the_page_is_a_form(service: InProcessService) -> None:
    with service.client(None) as anonymous:
        response = anonymous.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    (form,) = [f for f in tags(response.text, "form") if f.get("action") == "/page/tokens"]
    assert form["method"] == "post"
    names = {f.get("name") for f in tags(response.text, "input")}
    assert {"token", "form_key"} <= names
    assert "<script" not in response.text


def test_an_unknown_bearer_token_is_refused(service: InProcessService) -> None:
    with service.client("secret_unknown-to-this-server") as stranger:
        response = stranger.get("/")
    assert response.status_code == 403
    assert "not known to this server" in response.text


def test_the_page_lists_the_store_products_with_thumbnails(
    service: InProcessService, api: httpx.Client, store: tuple[int, str], shop: dict[str, Any]
) -> None:
    response = api.get("/")
    assert response.status_code == 200, response.text
    page = response.text
    assert escape(f"Shirt {HOSTILE}") in page
    assert "Hidden shirt" in page  # a secret token sees disabled products, as the API does
    link = f"/stores/{shop['store_id']}/products/{shop['product_id']}"
    assert any(a.get("href") == link for a in tags(page, "a"))
    thumbnails = [i.get("src") for i in tags(page, "img")]
    assert shop["shown"]["smallThumbnailUrl"] in thumbnails


def test_the_product_page_shows_media_in_order_with_ids_sizes_and_alt_texts(
    api: httpx.Client, shop: dict[str, Any]
) -> None:
    response = api.get(f"/stores/{shop['store_id']}/products/{shop['product_id']}")
    assert response.status_code == 200, response.text
    page = response.text
    shown = shop["shown"]
    main, side = shown["media"]["images"]
    (video,) = shown["media"]["videos"]
    # In order: main image, then the gallery (the side image, then the video).
    positions = [
        page.index(main["image800pxUrl"]),
        page.index(side["image1500pxUrl"]),
        page.index(video["url"]),
    ]
    assert positions == sorted(positions)
    assert "main image" in page and "gallery image" in page and "gallery video" in page
    gallery_image = shown["galleryImages"][0]
    assert f"internal id {gallery_image['id']}" in page
    # The sizes, each with its own dimensions; the original's.
    assert "640 x 480 px" in page and "300 x 200 px" in page
    for box, size in ((160, "160 x 120"), (400, "400 x 300"), (1500, "640 x 480")):
        assert f"{box} px: {size}" in page
    assert "160 px: 160 x 107" in page
    # Alt texts, escaped wherever they appear.
    assert escape(f"Front {HOSTILE}") in page
    assert "Seite" in page
    assert HOSTILE not in page and "<script>" not in page
    images = tags(page, "img")
    assert {"alt": f"Front {HOSTILE}"}.items() <= next(
        i for i in images if i.get("src") == main["image800pxUrl"]
    ).items()
    # The WebM file plays in a <video>, its cover as poster.
    (player,) = tags(page, "video")
    assert "controls" in player
    assert player["poster"] == video["image1500pxUrl"]
    (source,) = tags(page, "source")
    assert source["src"] == video["url"] and source["type"] == "video/webm"


def test_the_product_page_reports_the_last_media_update(
    api: httpx.Client, shop: dict[str, Any]
) -> None:
    page = api.get(f"/stores/{shop['store_id']}/products/{shop['product_id']}").text
    report = page[page.index("Last media update") :]
    assert "3 of 4 items stored" in report
    assert "mainMedia" in report and "galleryMedia[2]" in report
    assert "DOWNLOAD_IMAGE_FAILED" in report and "HTTP 404 from source" in report
    # Query strings are not kept: any token of the store, a public one too, reads the page.
    assert "very-secret" not in page and "hidden-value" not in page
    assert "side.png?…" in report and "missing.jpg?…" in report
    results = shop["results"]
    assert results["galleryMedia"][1]["success"] is False
    # A newer update replaces the report.
    _media(api, shop["store_id"], shop["product_id"], {"galleryMedia": []})
    page = api.get(f"/stores/{shop['store_id']}/products/{shop['product_id']}").text
    assert "DOWNLOAD_IMAGE_FAILED" not in page
    assert "the gallery was cleared" in page


def test_a_product_without_an_update_says_so(api: httpx.Client, store: tuple[int, str]) -> None:
    product_id = _product(api, store[0], "Plain")
    page = api.get(f"/stores/{store[0]}/products/{product_id}").text
    assert "No images or videos." in page and "None recorded" in page


def test_the_report_goes_with_its_product(
    service: InProcessService, api: httpx.Client, shop: dict[str, Any]
) -> None:
    catalog = service.state.adapters.catalog
    store_id, product_id = shop["store_id"], shop["product_id"]
    assert catalog.update_report(store_id, product_id) is not None
    assert api.delete(f"/api/v3/{store_id}/products/{product_id}").status_code == 200
    assert catalog.update_report(store_id, product_id) is None
    assert api.get(f"/stores/{store_id}/products/{product_id}").status_code == 404


def test_the_form_exchanges_a_token_for_a_cookie_only_the_page_honours(
    service: InProcessService, store: tuple[int, str], shop: dict[str, Any]
) -> None:
    store_id = store[0]
    public = service.new_token(store_id, public=True)
    cookie = _sign_in(service, public)
    page = _page(service, "/", cookie)
    assert page.status_code == 200
    assert escape(f"Shirt {HOSTILE}") in page.text
    # A public token sees what the storefront shows: enabled products only.
    assert "Hidden shirt" not in page.text
    hidden = _page(service, f"/stores/{store_id}/products/{shop['hidden_id']}", cookie)
    assert hidden.status_code == 404
    assert _page(service, f"/stores/{store_id}/products/{shop['product_id']}", cookie).is_success
    # The API never reads the cookie, whichever token it holds.
    secret_cookie = _sign_in(service, store[1])
    with service.client(None) as browser:
        for held in (cookie, secret_cookie):
            answer = browser.get(
                f"/api/v3/{store_id}/products", headers={"Cookie": f"product_media_page={held}"}
            )
            assert answer.status_code == 403
            assert answer.json()["errorCode"] == "INVALID_API_TOKEN"


def test_an_unknown_token_gets_the_form_again_with_a_message(service: InProcessService) -> None:
    key = _form_key(service)
    with service.client(None) as browser:
        for token, status, message in (
            ("secret_nobody-knows-this-one", 403, "not known to this server"),
            ("", 400, "Enter a token"),
        ):
            response = browser.post(
                "/page/tokens",
                content=f"token={token}&form_key={key}",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": f"product_media_form={key}",
                },
            )
            assert response.status_code == status
            assert message in response.text
            assert "product_media_page" not in response.headers.get("set-cookie", "")
            assert any(f.get("action") == "/page/tokens" for f in tags(response.text, "form"))


def test_a_form_from_another_site_is_refused(
    service: InProcessService, store: tuple[int, str]
) -> None:
    """Another site's page can post the form, but cannot make the browser send the form cookie
    (SameSite=Strict) nor read its value."""
    with service.client(None) as browser:
        for headers in (
            {},
            {"Cookie": "product_media_form=" + "a" * 43},
        ):
            response = browser.post(
                "/page/tokens",
                content=f"token={store[1]}&form_key=" + "b" * 43,
                headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            )
            assert response.status_code == 403
            assert "product_media_page" not in response.headers.get("set-cookie", "")


def test_forgetting_the_tokens_deletes_the_cookie(
    service: InProcessService, store: tuple[int, str]
) -> None:
    cookie = _sign_in(service, store[1])
    page = _page(service, "/", cookie).text
    assert any(f.get("action") == "/page/logout" for f in tags(page, "form"))
    key = _form_key(service)
    with service.client(None) as browser:
        response = browser.post(
            "/page/logout",
            content=f"form_key={key}",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"product_media_form={key}; product_media_page={cookie}",
            },
        )
    assert response.status_code == 303
    assert re.search(r'product_media_page="?"?;', response.headers["set-cookie"])
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_a_token_that_stopped_working_is_dropped_from_the_cookie(
    service: InProcessService, store: tuple[int, str]
) -> None:
    cookie = _sign_in(service, store[1])
    page = _page(service, "/", f"secret_unknown-to-this-server {cookie}")
    assert page.status_code == 200
    assert f"Store {store[0]}" in page.text
    assert page.cookies.get("product_media_page") == cookie
    alone = _page(service, "/", "secret_unknown-to-this-server")
    assert "no longer works" in alone.text
    assert "Max-Age=0" in alone.headers["set-cookie"]


@pytest.mark.parametrize("path", ["/stores/abc", "/stores/1/products/x", "/stores/1/other/2"])
def test_a_page_address_that_names_nothing_is_the_pages_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert f"The page {path} is not among" in response.text


def test_another_store_is_never_shown(
    service: InProcessService, api: httpx.Client, shop: dict[str, Any]
) -> None:
    other_store, other_token = service.new_store()
    with service.client(other_token) as other:
        other_product = _product(other, other_store, "Other store's coat")
        mine = other.get("/")
        assert "Other store" in mine.text and "Shirt" not in mine.text
        # Another store's product, by its own path or under this store's.
        for path in (
            f"/stores/{shop['store_id']}/products/{shop['product_id']}",
            f"/stores/{other_store}/products/{shop['product_id']}",
            f"/stores/{shop['store_id']}",
        ):
            response = other.get(path)
            assert response.status_code == 404, path
            assert "Shirt" not in response.text
    for path in (f"/stores/{other_store}/products/{other_product}", f"/stores/{other_store}"):
        response = api.get(path)
        assert response.status_code == 404
        assert "coat" not in response.text
    assert "coat" not in api.get("/").text


def test_the_page_allows_no_script_and_no_other_site(api: httpx.Client) -> None:
    response = api.get("/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    style = api.get("/page/style.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    for link in tags(response.text, "link"):
        assert link["href"] is not None and link["href"].startswith("/")


def test_a_provider_video_embeds_its_player(api: httpx.Client, store: tuple[int, str]) -> None:
    product_id = _product(api, store[0], "Song")
    link = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    _media(api, store[0], product_id, {"galleryMedia": [{"videoUrl": link}]})
    page = api.get(f"/stores/{store[0]}/products/{product_id}").text
    (frame,) = tags(page, "iframe")
    assert frame["src"] == "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_load_nothing_from_elsewhere(service: InProcessService, path: str) -> None:
    with service.client(None) as anonymous:
        page = anonymous.get(path)
        assert page.status_code == 200
        assets = [
            value
            for tag in ("script", "link")
            for attrs in tags(page.text, tag)
            for name in ("src", "href")
            if (value := attrs.get(name))
        ]
        assert any(a.endswith(".js") for a in assets), assets
        for asset in assets:
            assert asset.startswith("/"), asset
            fetched = anonymous.get(asset)
            assert fetched.status_code == 200, asset
            assert len(fetched.content) > 1000
        assert "cdn." not in page.text and "fonts.googleapis" not in page.text


def test_page_reads_count_against_the_token_rate_limit(tmp_path: Path) -> None:
    with running(InProcessService(tmp_path / "limited", rate_limit_per_minute=3)) as limited:
        store_id, token = limited.new_store()
        with limited.client(token) as api:
            assert api.get(f"/api/v3/{store_id}/products").status_code == 200
            assert api.get("/").status_code == 200
            assert api.get(f"/stores/{store_id}").status_code == 200
            refused = api.get("/")
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert "at most 3 a minute" in refused.text
            assert api.get(f"/api/v3/{store_id}/products").status_code == 429


def test_behind_https_the_cookies_are_secure(tmp_path: Path) -> None:
    """PUBLIC_URL names where browsers reach the service (a proxy that ends TLS): the cookies
    are then never sent over plain HTTP, and media come from that origin."""
    with (
        running(InProcessService(tmp_path / "tls", public_url="https://media.example")) as svc,
        svc.client(None) as browser,
    ):
        _, token = svc.new_store()
        first = browser.get("/")
        assert "Secure" in first.headers["set-cookie"]
        assert "img-src 'self' https://media.example;" in first.headers["content-security-policy"]
        key = first.cookies["product_media_form"]
        response = browser.post(
            "/page/tokens",
            content=f"token={token}&form_key={key}",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"product_media_form={key}",
            },
        )
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


def test_the_form_routes_take_forms_only(service: InProcessService) -> None:
    with service.client(None) as browser:
        response = browser.post("/page/tokens", json={"token": "secret_x"})
    assert response.status_code == 415


def test_a_store_with_many_products_is_paged(
    service: InProcessService, api: httpx.Client, store: tuple[int, str]
) -> None:
    store_id = store[0]
    for n in range(51):
        _product(api, store_id, f"Item {n:02d}")
    first = api.get("/").text
    assert "Item 49" in first and "Item 50" not in first
    assert any(a.get("href") == f"/stores/{store_id}?offset=50" for a in tags(first, "a"))
    second = api.get(f"/stores/{store_id}?offset=50").text
    assert "Item 50" in second and "Item 49" not in second
    assert any(a.get("href") == f"/stores/{store_id}?offset=0" for a in tags(second, "a"))
