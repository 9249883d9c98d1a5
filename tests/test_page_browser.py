"""The media page in a real browser: Debian's Chromium, driven by Playwright, reads a real server
after a media update of images from a local source and a WebM file. Every image on the page
must have loaded and the video must play; /docs and /redoc must render with every request
answered by the server itself. Screenshots go to the test's own folder (its path is printed
and kept as a property of the test's report)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.browser import chromium
from tests.inprocess_helpers import SocketService
from tests.media_factory import jpeg, png
from tests.source_server import SourceServer
from tests.video_factory import webm

pytestmark = pytest.mark.slow

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
# Every <img> has its pixels: complete, and decoded to a non-zero width.
# (Functions, not expressions: the page's policy forbids evaluating strings.)
_IMAGES_LOADED = "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
_IMAGES = "[...document.images].map(i => [i.currentSrc, i.naturalWidth])"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable),
            # As root (CI, containers) Chromium's own sandbox cannot start.
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SocketService]:
    service = SocketService(tmp_path / "service").start()
    yield service
    service.stop()


def _offline(page: Page) -> list[str]:
    """Refuse every request that would leave this machine; the list of those refused."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in _LOOPBACK or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    page.route("**/*", handle)
    return refused


def _screenshot(
    page: Page, tmp_path: Path, name: str, record_property: Callable[[str, object], None]
) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    record_property(f"screenshot {name}", str(path))
    print(f"screenshot: {path}")


def test_the_media_page_shows_loaded_images_and_plays_a_webm_video(
    browser: Browser,
    server: SocketService,
    sources: SourceServer,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    store_id, token = server.new_store()
    tag = uuid.uuid4().hex
    body = {
        "mainMedia": {"imageUrl": sources.add(f"/browser/{tag}/main.jpg", jpeg(1600, 1200))},
        "galleryMedia": [
            {"imageUrl": sources.add(f"/browser/{tag}/side.png", png(300, 200))},
            {"videoUrl": sources.add(f"/browser/{tag}/clip.webm", webm(seconds=4.0))},
            {"imageUrl": sources.url(f"/browser/{tag}/missing.jpg")},
        ],
    }
    with server.client(token) as api:
        created = api.post(f"/api/v3/{store_id}/products", json={"name": "Shirt <b>1</b>"})
        product_id = created.json()["id"]
        results = api.put(f"/api/v3/{store_id}/products/{product_id}/media", json=body).json()
    assert [r["success"] for r in results["galleryMedia"]] == [True, True, False]

    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    refused = _offline(page)
    page.goto(f"{server.url}/")
    page.fill("#token", token)
    page.click("form.token-form button[type=submit]")
    page.wait_for_url(f"{server.url}/")
    page.wait_for_function(_IMAGES_LOADED)
    assert page.evaluate("document.images.length") == 1
    page.click("text=Shirt <b>1</b>")
    page.wait_for_url(f"**/stores/{store_id}/products/{product_id}")

    # The main image, the side image, the video's cover (no poster <img>: the <video>'s own).
    page.wait_for_function(_IMAGES_LOADED, timeout=30_000)
    loaded = page.evaluate(_IMAGES)
    assert len(loaded) == 2, loaded
    assert all(width > 0 for _, width in loaded), loaded
    assert "DOWNLOAD_IMAGE_FAILED" in page.inner_text("table.report")

    page.evaluate(
        "(async () => { const v = document.querySelector('video');"
        " v.muted = true; await v.play(); })()"
    )
    page.wait_for_function(
        "() => document.querySelector('video').currentTime > 0.5", timeout=30_000
    )
    assert page.evaluate("document.querySelector('video').error") is None
    _screenshot(page, tmp_path, "media-page", record_property)
    assert refused == []


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock"), ("/redoc", ".api-content")])
def test_the_docs_render_offline(
    browser: Browser,
    server: SocketService,
    path: str,
    rendered: str,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    page = browser.new_page()
    refused = _offline(page)
    page.goto(f"{server.url}{path}")
    page.wait_for_selector(rendered, timeout=60_000)
    assert "products/{productId}/media" in page.inner_text("body")
    _screenshot(page, tmp_path, path.strip("/"), record_property)
    assert refused == []
