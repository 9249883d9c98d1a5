"""Ecwid's per-image endpoints over HTTP on the real service, on both backends (DESIGN section
8): uploads as bytes or from a URL, at once or as jobs, and the three deletes; the ids they
answer are galleryImages[].id and DELETE .../gallery/{id} takes them back."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from product_media.domain.media import MediaSet, Video, VideoFiles
from product_media.storage.tables import media_jobs
from tests.crashed_owner import crashed_owner
from tests.inprocess import EMBEDDED, InProcessService, running
from tests.media_factory import html, jpeg, png, truncated
from tests.source_server import SourceServer

OCTETS = {"Content-Type": "application/octet-stream"}
YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code, body
    message: str = body["errorMessage"]
    return message


def _serve(sources: SourceServer, content: bytes, name: str = "image.jpg") -> str:
    return sources.add(f"/images-http/{uuid.uuid4().hex}/{name}", content)


def _image(seed: int, w: int = 60, h: int = 40) -> bytes:
    """A small JPEG of its own (the seed shifts its pixels), so its files are its own."""
    return jpeg(w + seed % 7, h + seed % 5)


def _digest_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split(".")[0]


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _get(api: httpx.Client, product: str) -> dict[str, Any]:
    response = api.get(product)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _gallery(api: httpx.Client, product: str) -> list[tuple[int, str]]:
    """(id, digest of the original) of each gallery image, in order."""
    return [
        (item["id"], _digest_of(item["originalImageUrl"]))
        for item in _get(api, product)["galleryImages"]
    ]


def _main(api: httpx.Client, product: str) -> str | None:
    body = _get(api, product)
    return _digest_of(body["originalImageUrl"]) if "originalImageUrl" in body else None


def _upload(api: httpx.Client, path: str, content: bytes, **headers: str) -> int:
    response = api.post(path, content=content, headers=headers or OCTETS)
    assert response.status_code == 200, response.text
    assert response.json().keys() == {"id"}
    image_id: int = response.json()["id"]
    return image_id


def _ids(product_path: str) -> tuple[int, int]:
    parts = product_path.split("/")
    return int(parts[3]), int(parts[5])


def _give_videos(service: InProcessService, product: str) -> None:
    """A main video and a gallery video (provider links: no files), written through the
    catalog, as the video endpoints would."""
    store_id, product_id = _ids(product)

    def with_videos(current: MediaSet) -> tuple[MediaSet, None]:
        video = Video(VideoFiles(url=YOUTUBE, provider_name="YouTube"))
        return replace(current, main_video=video, gallery=(*current.gallery, video)), None

    catalog = service.state.adapters.catalog
    assert catalog.update_media(store_id, product_id, uuid.uuid4().hex, with_videos) is not None


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


# -- POST .../image and .../gallery -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [OCTETS, {"Content-Type": "image/jpeg"}, {"Content-Type": "image/png; q=1"}, {}],
    ids=["octet-stream", "image/jpeg", "image/png", "no content type"],
)
def test_upload_main_image_bytes(api: httpx.Client, product: str, headers: dict[str, str]) -> None:
    content = _image(1)
    image_id = _upload(api, f"{product}/image", content, **headers)
    body = _get(api, product)
    assert _digest_of(body["originalImageUrl"]) == _sha(content)
    assert body["media"]["images"][0]["id"] == "0"
    assert api.get(body["originalImageUrl"]).content == content
    assert body["galleryImages"] == []
    # Replacing it: a new id, the old files go.
    second = _upload(api, f"{product}/image", _image(2))
    assert second > image_id
    assert _main(api, product) == _sha(_image(2))
    assert api.get(body["originalImageUrl"]).status_code == 404


def test_upload_main_image_from_a_url_ignores_the_body(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    content = png(70, 50)
    url = _serve(sources, content, "a.png")
    response = api.post(
        f"{product}/image", params={"externalUrl": url}, content=_image(3), headers=OCTETS
    )
    assert response.status_code == 200, response.text
    assert _main(api, product) == _sha(content)
    assert api.post(f"{product}/image", params={"externalUrl": url}).status_code == 200


def test_the_main_image_endpoints_leave_the_main_video_and_gallery_alone(
    service: InProcessService, api: httpx.Client, product: str
) -> None:
    gallery_id = _upload(api, f"{product}/gallery", _image(4))
    _give_videos(service, product)
    _upload(api, f"{product}/image", _image(5))
    body = _get(api, product)
    assert [v["url"] for v in body["media"]["videos"]] == [YOUTUBE, YOUTUBE]
    assert [item["id"] for item in body["galleryImages"]] == [gallery_id]
    assert api.delete(f"{product}/image").json() == {"deleteCount": 1}
    body = _get(api, product)
    assert "originalImageUrl" not in body and "borderInfo" not in body
    assert [v["url"] for v in body["media"]["videos"]] == [YOUTUBE, YOUTUBE]
    assert [item["id"] for item in body["galleryImages"]] == [gallery_id]
    assert api.delete(f"{product}/image").json() == {"deleteCount": 0}


def test_gallery_uploads_append_and_their_ids_are_gallery_image_ids(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    first, second, third = _image(6), png(50, 30, alpha=True), _image(7)
    ids = [
        _upload(api, f"{product}/gallery", first),
        api.post(
            f"{product}/gallery",
            params={"externalUrl": _serve(sources, second, "b.png"), "fileName": "b.png"},
        ).json()["id"],
        _upload(api, f"{product}/gallery?fileName=third.jpg", third, **{"Content-Type": "image/*"}),
    ]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert _gallery(api, product) == list(zip(ids, map(_sha, (first, second, third)), strict=True))
    body = _get(api, product)
    # media.images keeps its own numbering: "1", "2", "3".
    assert [image["id"] for image in body["media"]["images"]] == ["1", "2", "3"]
    assert all(
        item["borderInfo"]["dominatingColor"].keys() == {"red", "green", "blue", "alpha"}
        for item in body["galleryImages"]
    )
    assert all(
        isinstance(item["borderInfo"]["homogeneity"], bool) for item in body["galleryImages"]
    )

    # DELETE .../gallery/{id} takes those ids back, one item each.
    assert api.delete(f"{product}/gallery/{ids[1]}").json() == {"deleteCount": 1}
    assert [item_id for item_id, _ in _gallery(api, product)] == [ids[0], ids[2]]
    assert api.delete(f"{product}/gallery/{ids[1]}").json() == {"deleteCount": 0}
    assert api.delete(f"{product}/gallery/{ids[1]}/").json() == {"deleteCount": 0}


def test_delete_gallery_item_takes_a_video_id_too(
    service: InProcessService, api: httpx.Client, product: str
) -> None:
    image_id = _upload(api, f"{product}/gallery", _image(8))
    _give_videos(service, product)
    store_id, product_id = _ids(product)
    stored = service.state.adapters.catalog.get_product(store_id, product_id)
    assert stored is not None and stored.media.main_video is not None
    main_video_id = stored.media.main_video.id
    gallery_video_id = stored.media.gallery[1].id
    assert isinstance(stored.media.gallery[1], Video)
    assert len({image_id, main_video_id, gallery_video_id}) == 3, "one id, one item"

    # The main video is not a gallery item; the gallery video is.
    assert api.delete(f"{product}/gallery/{main_video_id}").json() == {"deleteCount": 0}
    assert api.delete(f"{product}/gallery/{gallery_video_id}").json() == {"deleteCount": 1}
    body = _get(api, product)
    assert [v["id"] for v in body["media"]["videos"]] == ["0"]
    assert [item["id"] for item in body["galleryImages"]] == [image_id]


def test_delete_all_gallery_images_keeps_videos_and_the_main_image(
    service: InProcessService, api: httpx.Client, product: str
) -> None:
    _upload(api, f"{product}/image", _image(9))
    for seed in (10, 11):
        _upload(api, f"{product}/gallery", _image(seed))
    _give_videos(service, product)
    assert api.delete(f"{product}/gallery").json() == {"deleteCount": 2}
    body = _get(api, product)
    assert body["galleryImages"] == []
    assert [image["id"] for image in body["media"]["images"]] == ["0"]
    assert len(body["media"]["videos"]) == 2
    assert api.delete(f"{product}/gallery").json() == {"deleteCount": 0}


def test_ids_are_not_handed_out_again(api: httpx.Client, product: str) -> None:
    last = _upload(api, f"{product}/gallery", _image(12))
    assert api.delete(f"{product}/gallery/{last}").json() == {"deleteCount": 1}
    assert _upload(api, f"{product}/gallery", _image(12)) > last
    main = _upload(api, f"{product}/image", _image(13))
    assert api.delete(f"{product}/image").json() == {"deleteCount": 1}
    assert _upload(api, f"{product}/image", _image(13)) > main


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (html(), "not an image"),
        (truncated(jpeg(120, 80)), "truncated or corrupt JPEG"),
        (b"\x89PNG\r\n\x1a\n", "truncated or corrupt PNG"),
    ],
)
@pytest.mark.parametrize("endpoint", ["image", "gallery"])
def test_bytes_that_are_not_an_image(
    api: httpx.Client, product: str, endpoint: str, content: bytes, reason: str
) -> None:
    before = _get(api, product)
    message = _error(
        api.post(f"{product}/{endpoint}", content=content, headers=OCTETS), 422, "INVALID_IMAGE"
    )
    assert reason in message
    assert _get(api, product)["updateTimestamp"] == before["updateTimestamp"]
    assert _get(api, product)["media"] == before["media"]


@pytest.mark.parametrize("endpoint", ["image", "gallery"])
def test_no_image_at_all(api: httpx.Client, product: str, endpoint: str) -> None:
    _error(api.post(f"{product}/{endpoint}"), 400, "WRONG_PARAMETER")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.jpg", "not a url", "http://user:pw@example.com/a.jpg", "/a.jpg"]
)
def test_a_malformed_external_url(api: httpx.Client, product: str, url: str) -> None:
    message = _error(api.post(f"{product}/gallery", params={"externalUrl": url}), 422, "WRONG_URL")
    assert message.startswith("externalUrl")


def test_an_external_url_that_cannot_be_used(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    missing = sources.url(f"/images-http/{uuid.uuid4().hex}/missing.jpg")
    message = _error(
        api.post(f"{product}/image", params={"externalUrl": missing}),
        422,
        "DOWNLOAD_IMAGE_FAILED",
    )
    assert message == f"{missing}: HTTP 404 from source"
    page = _serve(sources, html(), "page.jpg")
    message = _error(
        api.post(f"{product}/gallery", params={"externalUrl": page}), 422, "DOWNLOAD_IMAGE_FAILED"
    )
    assert message == f"{page}: not an image"
    assert _get(api, product)["galleryImages"] == []


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"json": {"url": "https://example.com/a.jpg"}},
        {"data": {"a": "b"}},
        {"content": b"x", "headers": {"Content-Type": "text/plain"}},
    ],
    ids=["json", "form", "text"],
)
@pytest.mark.parametrize("endpoint", ["image", "gallery"])
def test_a_body_that_is_not_bytes(
    api: httpx.Client, product: str, endpoint: str, kwargs: dict[str, Any]
) -> None:
    _error(api.post(f"{product}/{endpoint}", **kwargs), 415, "UNSUPPORTED_MEDIA_TYPE")


ENDPOINTS = [
    ("POST", "/image", {"content": jpeg(20, 20), "headers": OCTETS}),
    ("POST", "/gallery", {"content": jpeg(20, 20), "headers": OCTETS}),
    (
        "POST",
        "/image/async",
        {"json": {"url": "https://example.com/a.jpg", "width": 1, "height": 1}},
    ),
    (
        "POST",
        "/gallery/async",
        {"json": {"url": "https://example.com/a.jpg", "width": 1, "height": 1}},
    ),
    ("DELETE", "/image", {}),
    ("DELETE", "/gallery/5", {}),
    ("DELETE", "/gallery", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), ENDPOINTS)
def test_unknown_product(
    api: httpx.Client, store_path: str, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = api.request(method, f"{store_path}/products/987654321{path}", **kwargs)
    _error(response, 404, "PRODUCT_NOT_FOUND")


@pytest.mark.parametrize(("method", "path", "kwargs"), ENDPOINTS)
def test_scopes(
    service: InProcessService,
    store: tuple[int, str],
    product: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    for scopes in ("read_catalog,create_catalog,update_catalog_batch_delete", None):
        token = service.new_token(store[0], scopes=scopes, public=scopes is None)
        with service.client(token) as client:
            response = client.request(method, f"{product}{path}", **kwargs)
            _error(response, 403, "INSUFFICIENT_APP_SCOPE")


def test_deleting_the_whole_gallery_takes_the_batch_delete_scope(
    service: InProcessService, store: tuple[int, str], api: httpx.Client, product: str
) -> None:
    _upload(api, f"{product}/gallery", _image(14))
    token = service.new_token(store[0], scopes="read_catalog,update_catalog")
    with service.client(token) as client:
        message = _error(client.delete(f"{product}/gallery"), 403, "INSUFFICIENT_APP_SCOPE")
        assert "update_catalog_batch_delete" in message
        assert client.delete(f"{product}/image").status_code == 200
    assert len(_get(api, product)["galleryImages"]) == 1


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("small"), EMBEDDED, image_max_bytes=4000)
    with running(service):
        yield service


def test_bytes_over_the_image_limit(small_limit: InProcessService) -> None:
    store_id, token = small_limit.new_store()
    with small_limit.client(token) as api:
        created = api.post(f"/api/v3/{store_id}/products", json={"name": "p"}).json()
        product = f"/api/v3/{store_id}/products/{created['id']}"
        small, large = jpeg(16, 16), jpeg(400, 300)
        assert len(small) < 4000 < len(large)
        for endpoint in ("image", "gallery"):
            _error(
                api.post(f"{product}/{endpoint}", content=large, headers=OCTETS),
                413,
                "REQUEST_TOO_LARGE",
            )
            assert (
                api.post(f"{product}/{endpoint}", content=small, headers=OCTETS).status_code == 200
            )


# -- async uploads ----------------------------------------------------------------------------


def _accept(api: httpx.Client, path: str, body: dict[str, Any]) -> int:
    response = api.post(path, json=body)
    assert response.status_code == 200, response.text
    job_id: int = response.json()["id"]
    return job_id


def test_async_uploads_appear_in_the_order_accepted_with_the_ids_answered(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    contents = [_image(20), png(64, 48), _image(21)]
    urls = [_serve(sources, content, f"{n}.img") for n, content in enumerate(contents)]
    already = _upload(api, f"{product}/gallery", _image(22))
    ids = [
        _accept(api, f"{product}/gallery/async", {"url": url, "width": 60, "height": "40"})
        for url in urls
    ]
    main_content = _image(23)
    main_id = _accept(
        api,
        f"{product}/image/async",
        {
            "url": _serve(sources, main_content),
            "width": "64.0",
            "height": 48,
            "alt": {"main": "Front", "translated": {"fr": "Devant"}},
            "externalId": "ext-1",
        },
    )
    assert ids == sorted(ids) and already < ids[0] and main_id > ids[-1]
    _wait_for(lambda: len(_gallery(api, product)) == 4, "the gallery images")
    assert _gallery(api, product) == [
        (already, _sha(_image(22))),
        *zip(ids, map(_sha, contents), strict=True),
    ]
    _wait_for(lambda: _main(api, product) == _sha(main_content), "the main image")
    main = _get(api, product)["media"]["images"][0]
    assert main["alt"] == {"main": "Front", "translated": {"fr": "Devant"}}


def test_a_failed_async_upload_is_logged_with_its_reason(
    api: httpx.Client, product: str, sources: SourceServer, caplog: pytest.LogCaptureFixture
) -> None:
    missing = sources.url(f"/images-http/{uuid.uuid4().hex}/gone.jpg?secret=abc")
    good = _serve(sources, _image(24))
    with caplog.at_level(logging.INFO, logger="product_media.service.jobs"):
        failed = _accept(api, f"{product}/gallery/async", {"url": missing, "width": 1, "height": 1})
        stored = _accept(api, f"{product}/gallery/async", {"url": good, "width": 1, "height": 1})
        _wait_for(lambda: [i for i, _ in _gallery(api, product)] == [stored], "the second image")

        # Other tests' jobs run on the same service: only this job's lines count.
        def lines() -> list[str]:
            return [
                r.getMessage()
                for r in caplog.records
                if r.name == "product_media.service.jobs"
                and r.getMessage().startswith(f"async image {failed} of product")
            ]

        _wait_for(lambda: bool(lines()), "the failure's log line")
    assert len(lines()) == 1 and "HTTP 404" in lines()[0], lines()
    assert "secret" not in lines()[0], "no query string in a log line"


@pytest.mark.parametrize(
    ("body", "status", "code", "names"),
    [
        ({"url": "https://example.com/a.jpg", "width": 1}, 400, "WRONG_PARAMETER", "height"),
        (
            {"url": "https://e.com/a.jpg", "width": "wide", "height": 1},
            400,
            "WRONG_PARAMETER",
            "width",
        ),
        ({"url": "https://e.com/a.jpg", "width": -1, "height": 1}, 400, "WRONG_PARAMETER", "width"),
        (
            {"url": "https://e.com/a.jpg", "width": "1e3", "height": 1},
            400,
            "WRONG_PARAMETER",
            "width",
        ),
        (
            {"url": "https://e.com/a.jpg", "width": True, "height": 1},
            400,
            "WRONG_PARAMETER",
            "width",
        ),
        (
            {"url": "https://e.com/a.jpg", "width": 1, "height": 1, "atl": {"main": "x"}},
            400,
            "WRONG_PARAMETER",
            "atl",
        ),
        (
            {"url": "https://e.com/a.jpg", "width": 1, "height": 1, "alt": {"mian": "x"}},
            400,
            "WRONG_PARAMETER",
            "alt.mian",
        ),
        ({"width": 1, "height": 1}, 400, "WRONG_PARAMETER", "url"),
        ({"url": "htt://sssss", "width": 1, "height": 1}, 422, "WRONG_URL", "url"),
        ({"url": "  ", "width": 1, "height": 1}, 422, "WRONG_URL", "url"),
    ],
)
@pytest.mark.parametrize("endpoint", ["image/async", "gallery/async"])
def test_async_refusals(
    api: httpx.Client,
    product: str,
    endpoint: str,
    body: dict[str, Any],
    status: int,
    code: str,
    names: str,
) -> None:
    message = _error(api.post(f"{product}/{endpoint}", json=body), status, code)
    assert names in message, message


def test_async_jobs_of_a_crashed_server_are_taken_up(
    service: InProcessService,
    api: httpx.Client,
    product: str,
    sources: SourceServer,
    tmp_path: Path,
) -> None:
    """A job held by a server that died (its lock file free on this host) runs here."""
    store_id, product_id = _ids(product)
    catalog = service.state.adapters.catalog
    content = _image(25)
    dead = crashed_owner(service.settings.catalog_url, service.settings.lock_dir)
    # As the dead server left it: accepted, taken, never done.
    job_id = catalog.reserve_media_id()
    with catalog.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            insert(media_jobs).values(
                id=job_id,
                store_id=store_id,
                product_id=product_id,
                target="gallery",
                url=_serve(sources, content),
                details={"width": 1, "height": 1},
                owner=dead,
                claimed_at=0,
                attempts=1,
            )
        )
    service.state.jobs.wake()  # type: ignore[union-attr]
    _wait_for(lambda: _gallery(api, product) == [(job_id, _sha(content))], "the job's image")
