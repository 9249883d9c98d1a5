"""PUT .../media and GET product through the running server (DESIGN sections 2 to 5).

Every test talks HTTP to the real service subprocess; images come from a real source server on
127.0.0.1, which the shared test service may fetch from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import pyvips

from tests.inprocess import ROUTER, InProcessService
from tests.media_factory import (
    gif,
    gif_bomb,
    html,
    jpeg,
    jpeg_bomb,
    pattern,
    png,
    png_bomb,
    profile,
    svg,
    truncated,
    webp,
    webp_bomb,
)
from tests.service import loopback_service
from tests.source_server import SourceServer

# -- helpers -------------------------------------------------------------------------------

MISSING: Any = object()

SIZE_FIELDS = {
    160: "image160pxUrl",
    400: "image400pxUrl",
    800: "image800pxUrl",
    1500: "image1500pxUrl",
}
LEGACY_SIZES = {
    "smallThumbnailUrl": "image160pxUrl",
    "thumbnailUrl": "image400pxUrl",
    "hdThumbnailUrl": "image800pxUrl",
    "imageUrl": "image1500pxUrl",
}
LEGACY_FIELDS = (*LEGACY_SIZES, "originalImageUrl", "originalImage")
MEDIA_IMAGE_FIELDS = {"id", "orderBy", "isMain", *SIZE_FIELDS.values(), "imageOriginalUrl", "alt"}
GALLERY_IMAGE_FIELDS = {
    "id",
    "url",
    "thumbnail",
    "originalImageUrl",
    "imageUrl",
    "hdThumbnailUrl",
    "thumbnailUrl",
    "smallThumbnailUrl",
    "width",
    "height",
    "orderBy",
    "alt",
    "borderInfo",
}
GALLERY_URL_FIELDS = GALLERY_IMAGE_FIELDS - {
    "id",
    "width",
    "height",
    "orderBy",
    "alt",
    "borderInfo",
}
CACHE_CONTROL = "public, max-age=31536000, immutable"
DEFAULT_IMAGE_LIMIT = 20_000_000
MIB = 1024 * 1024
OK_MAIN = {"success": True, "id": "0"}


def ok(item_id: str) -> dict[str, Any]:
    return {"success": True, "id": item_id}


@dataclass(frozen=True)
class Img:
    """An image put on the source server: its URL, bytes and size as displayed."""

    url: str
    content: bytes
    width: int
    height: int


def serve(
    sources: SourceServer,
    body: bytes,
    name: str = "image.jpg",
    *,
    content_type: str | None = "image/jpeg",
    headers: dict[str, str] | None = None,
    **options: Any,
) -> str:
    """Put `body` on the source server under a path of its own; returns its URL."""
    headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    return sources.add(f"/media-http/{uuid.uuid4().hex}/{name}", body, headers=headers, **options)


def distinct_jpeg(w: int = 96, h: int = 64) -> bytes:
    """A JPEG of the reference pattern with a block of random noise: no other test has it."""
    rgb = pattern(w, h)
    noise = np.random.default_rng().integers(0, 256, (h - h // 2, w - w // 2, 3), dtype=np.uint8)
    rgb[h // 2 :, w // 2 :] = noise
    image = pyvips.Image.new_from_array(rgb).copy(interpretation="srgb")
    return bytes(image.jpegsave_buffer(Q=90))


def new_image(sources: SourceServer, w: int = 96, h: int = 64) -> Img:
    content = distinct_jpeg(w, h)
    return Img(serve(sources, content), content, w, h)


def put_media(
    api: httpx.Client,
    product: str,
    *,
    main: Any = MISSING,
    gallery: Any = MISSING,
) -> dict[str, Any]:
    """PUT .../media; `main` and `gallery` are sent as given (None sends null) unless MISSING.

    Img values are turned into {"imageUrl": url}.
    """
    body: dict[str, Any] = {}
    if main is not MISSING:
        body["mainMedia"] = {"imageUrl": main.url} if isinstance(main, Img) else main
    if gallery is not MISSING:
        body["galleryMedia"] = (
            gallery
            if gallery is None
            else [{"imageUrl": g.url} if isinstance(g, Img) else g for g in gallery]
        )
    response = api.put(f"{product}/media", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def new_product(api: httpx.Client, store_path: str, name: str = "Mug") -> str:
    """The path of a new product."""
    response = api.post(f"{store_path}/products", json={"name": name})
    assert response.status_code == 200, response.text
    return f"{store_path}/products/{response.json()['id']}"


def get_product(api: httpx.Client, product: str) -> dict[str, Any]:
    response = api.get(product)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# Media files are public: fetched without a token, over one pool of connections.
_browser = httpx.Client(timeout=30, transport=ROUTER)


def fetch(url: str, **headers: str) -> httpx.Response:
    """A media URL, fetched the way a browser would."""
    assert url.startswith("http://127.0.0.1:"), url
    return _browser.get(url, headers=headers)


def decode(content: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(content, "")


def fetch_image_size(url: str) -> tuple[int, int]:
    response = fetch(url)
    assert response.status_code == 200, url
    image = decode(response.content)
    return image.width, image.height


def blob_url(service: InProcessService, content: bytes, extension: str = "jpg") -> str:
    """Where the service would serve `content` if it kept it (keys are SHA-256 of the bytes)."""
    return f"{service.url}/media/{hashlib.sha256(content).hexdigest()}.{extension}"


def image_urls(image: dict[str, Any]) -> list[str]:
    return [image[field] for field in (*SIZE_FIELDS.values(), "imageOriginalUrl")]


def all_urls(body: dict[str, Any]) -> set[str]:
    """Every media URL a product shows."""
    urls: set[str] = set()
    for image in body["media"]["images"]:
        urls.update(image_urls(image))
    for field in LEGACY_SIZES.keys() | {"originalImageUrl"}:
        if field in body:
            urls.add(body[field])
    if "originalImage" in body:
        urls.add(body["originalImage"]["url"])
    for item in body["galleryImages"]:
        urls.update(item[field] for field in GALLERY_URL_FIELDS)
    return urls


def original_bytes(image: dict[str, Any]) -> bytes:
    response = fetch(image["imageOriginalUrl"])
    assert response.status_code == 200
    return response.content


def assert_media(body: dict[str, Any], main: Img | None, gallery: list[Img]) -> None:
    """`body` (a GET product) shows exactly this main image and these gallery images, in order.

    With no videos in the gallery, an image's position in the whole gallery is its index + 1.
    """
    images = body["media"]["images"]
    assert body["media"]["videos"] == []
    assert len(images) == (main is not None) + len(gallery)
    for image in images:
        assert image.keys() == MEDIA_IMAGE_FIELDS
        for url in image_urls(image):
            assert url.startswith("http://127.0.0.1:") and "/media/" in url, url
    if main is None:
        for field in LEGACY_FIELDS:
            assert field not in body, field
    else:
        first = images[0]
        assert (first["id"], first["isMain"], first["orderBy"]) == ("0", True, 0)
        assert original_bytes(first) == main.content
        for legacy, field in LEGACY_SIZES.items():
            assert body[legacy] == first[field]
        assert body["originalImageUrl"] == first["imageOriginalUrl"]
        assert body["originalImage"] == {
            "url": first["imageOriginalUrl"],
            "width": main.width,
            "height": main.height,
        }
    shown = images[1:] if main is not None else images
    assert len(body["galleryImages"]) == len(gallery)
    internal_ids = [item["id"] for item in body["galleryImages"]]
    assert len(set(internal_ids)) == len(internal_ids)
    for position, (image, item, expected) in enumerate(
        zip(shown, body["galleryImages"], gallery, strict=True), start=1
    ):
        assert (image["id"], image["isMain"], image["orderBy"]) == (str(position), False, position)
        assert original_bytes(image) == expected.content
        assert item.keys() == GALLERY_IMAGE_FIELDS
        assert isinstance(item["id"], int) and not isinstance(item["id"], bool)
        assert item["url"] == item["originalImageUrl"] == image["imageOriginalUrl"]
        assert item["thumbnail"] == item["smallThumbnailUrl"] == image["image160pxUrl"]
        assert item["thumbnailUrl"] == image["image400pxUrl"]
        assert item["hdThumbnailUrl"] == image["image800pxUrl"]
        assert item["imageUrl"] == image["image1500pxUrl"]
        assert (item["width"], item["height"], item["orderBy"]) == (
            expected.width,
            expected.height,
            position,
        )


def assert_served(urls: set[str] | list[str]) -> None:
    for url in urls:
        assert fetch(url).status_code == 200, url


def assert_gone(urls: set[str] | list[str]) -> None:
    for url in urls:
        response = fetch(url)
        assert response.status_code == 404, url
        assert response.json()["errorCode"]


def assert_failure(result: dict[str, Any], code: str, url: str, reason: str) -> None:
    assert set(result) == {"success", "errorCode", "errorMessage"}, result
    assert result["success"] is False
    assert result["errorCode"] == code
    assert url in result["errorMessage"]
    assert reason in result["errorMessage"]


@pytest.fixture(scope="module")
def store(service: InProcessService) -> tuple[int, str]:
    """One store and token for the whole module (each test still gets a product of its own)."""
    return service.new_store()


@pytest.fixture(scope="module")
def api(service: InProcessService, store: tuple[int, str]) -> Iterator[httpx.Client]:
    with service.client(store[1]) as client:
        yield client


@pytest.fixture
def seeded(api: httpx.Client, product: str, sources: SourceServer) -> tuple[Img, list[Img]]:
    """The product with a main image and two gallery images of its own."""
    main, gallery = new_image(sources), [new_image(sources), new_image(sources, 80, 120)]
    result = put_media(api, product, main=main, gallery=gallery)
    assert result == {"mainMedia": OK_MAIN, "galleryMedia": [ok("1"), ok("2")]}
    return main, gallery


# -- the update rule, row by row (DESIGN section 3) -----------------------------------------


def test_new_product_has_no_media(api: httpx.Client, product: str) -> None:
    body = get_product(api, product)
    assert body["media"] == {"images": [], "videos": []}
    assert body["galleryImages"] == []
    assert_media(body, None, [])


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"mainMedia": None},
        {"mainMedia": {}},
        {"mainMedia": {"imageUrl": None, "videoUrl": ""}},
        {"galleryMedia": None},
        {"galleryMedia": []},
        {"mainMedia": {}, "galleryMedia": []},
    ],
    ids=lambda body: json.dumps(body),
)
def test_main_unchanged_and_gallery_deleted(
    api: httpx.Client,
    product: str,
    seeded: tuple[Img, list[Img]],
    request_body: dict[str, Any],
) -> None:
    main, _ = seeded
    before = get_product(api, product)
    response = api.put(f"{product}/media", json=request_body)
    assert response.status_code == 200, response.text
    assert response.json() == {"galleryMedia": []}
    after = get_product(api, product)
    assert_media(after, main, [])
    assert after["media"]["images"] == before["media"]["images"][:1]
    for field in LEGACY_FIELDS:
        assert after[field] == before[field]
    assert_served(all_urls(after))


def test_main_missing_and_gallery_items(
    api: httpx.Client, product: str, sources: SourceServer, seeded: tuple[Img, list[Img]]
) -> None:
    main, _ = seeded
    gallery = [new_image(sources, 70, 50), new_image(sources), new_image(sources, 50, 90)]
    result = put_media(api, product, gallery=gallery)
    assert result == {"galleryMedia": [ok("1"), ok("2"), ok("3")]}
    body = get_product(api, product)
    assert_media(body, main, gallery)
    assert_served(all_urls(body))


def test_main_image_and_gallery_items(
    api: httpx.Client, product: str, sources: SourceServer, seeded: tuple[Img, list[Img]]
) -> None:
    new_main, gallery = new_image(sources, 120, 90), [new_image(sources), new_image(sources)]
    result = put_media(api, product, main=new_main, gallery=gallery)
    assert result == {"mainMedia": OK_MAIN, "galleryMedia": [ok("1"), ok("2")]}
    body = get_product(api, product)
    assert_media(body, new_main, gallery)
    assert_served(all_urls(body))


def test_main_image_without_gallery_deletes_the_gallery(
    api: httpx.Client, product: str, sources: SourceServer, seeded: tuple[Img, list[Img]]
) -> None:
    new_main = new_image(sources)
    assert put_media(api, product, main=new_main) == {"mainMedia": OK_MAIN, "galleryMedia": []}
    assert_media(get_product(api, product), new_main, [])


def test_main_image_on_a_product_without_media(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    main = new_image(sources, 64, 64)
    assert put_media(api, product, main={"imageUrl": main.url, "videoUrl": None}) == {
        "mainMedia": OK_MAIN,
        "galleryMedia": [],
    }
    assert_media(get_product(api, product), main, [])


def test_gallery_without_main_image_has_no_legacy_fields(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    gallery = [new_image(sources), new_image(sources)]
    result = put_media(api, product, main=None, gallery=gallery)
    assert result == {"galleryMedia": [ok("1"), ok("2")]}
    assert_media(get_product(api, product), None, gallery)


def test_main_video_fails_and_keeps_the_main_image(
    api: httpx.Client, product: str, sources: SourceServer, seeded: tuple[Img, list[Img]]
) -> None:
    main, gallery = seeded
    before = get_product(api, product)
    video_path = f"/media-http/{uuid.uuid4().hex}/clip.mp4"
    video = sources.url(video_path)
    result = put_media(api, product, main={"videoUrl": video}, gallery=gallery[:1])
    assert set(result) == {"mainMedia", "galleryMedia"}
    assert_failure(result["mainMedia"], "DOWNLOAD_VIDEO_FAILED", video, "HTTP 404 from source")
    assert result["galleryMedia"] == [ok("1")]
    body = get_product(api, product)
    assert_media(body, main, gallery[:1])
    assert body["media"]["images"][0] == before["media"]["images"][0]
    assert sources.hits(video_path) == 1


def test_main_image_and_video_fail_together(
    api: httpx.Client,
    service: InProcessService,
    product: str,
    sources: SourceServer,
    seeded: tuple[Img, list[Img]],
) -> None:
    main, _ = seeded
    before = get_product(api, product)
    candidate = new_image(sources)
    video = sources.url("/media-http/main.mov")
    result = put_media(
        api, product, main={"imageUrl": candidate.url, "videoUrl": video}, gallery=[]
    )
    assert_failure(result["mainMedia"], "DOWNLOAD_VIDEO_FAILED", video, "HTTP 404 from source")
    assert result["galleryMedia"] == []
    body = get_product(api, product)
    assert_media(body, main, [])
    assert body["media"]["images"][0] == before["media"]["images"][0]
    # The image half was fetched and processed, but nothing keeps its files.
    assert_gone([blob_url(service, candidate.content)])


def test_gallery_items_of_every_kind(
    api: httpx.Client,
    service: InProcessService,
    product: str,
    sources: SourceServer,
    seeded: tuple[Img, list[Img]],
) -> None:
    main, _ = seeded
    first, second, cover = new_image(sources), new_image(sources, 60, 90), new_image(sources)
    video = sources.url("/media-http/gallery.webm")
    covered = sources.url("/media-http/covered.mp4")
    result = put_media(
        api,
        product,
        gallery=[
            first,
            {"videoUrl": video},
            {"imageUrl": second.url, "videoUrl": ""},
            {"imageUrl": cover.url, "videoUrl": covered},
        ],
    )
    gallery_results = result.pop("galleryMedia")
    assert result == {}
    assert gallery_results[0] == ok("1")
    assert_failure(gallery_results[1], "DOWNLOAD_VIDEO_FAILED", video, "HTTP 404 from source")
    assert gallery_results[2] == ok("2")
    assert_failure(gallery_results[3], "DOWNLOAD_VIDEO_FAILED", covered, "HTTP 404 from source")
    body = get_product(api, product)
    assert_media(body, main, [first, second])
    assert_gone([blob_url(service, cover.content)])


def test_same_url_twice_in_the_gallery(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    image = new_image(sources)
    result = put_media(api, product, main=image, gallery=[image, image])
    assert result == {"mainMedia": OK_MAIN, "galleryMedia": [ok("1"), ok("2")]}
    assert_media(get_product(api, product), image, [image, image])
    assert sources.hits(urlsplit(image.url).path) == 1


# -- image kinds, sizes and what is served (DESIGN section 2) -------------------------------

SMALL_300X200 = ((160, 107), (300, 200), (300, 200), (300, 200))
TALL_200X300 = ((107, 160), (200, 300), (200, 300), (200, 300))
JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"


def kind(
    make: Callable[[], bytes],
    name: str,
    original_type: str,
    derived_type: str,
    bands: int = 3,
    size: tuple[int, int] = (300, 200),
    derived_sizes: tuple[tuple[int, int], ...] = SMALL_300X200,
) -> Any:
    """One case of test_image_kinds, named after its file."""
    return pytest.param(
        make, name, original_type, derived_type, bands, size, derived_sizes, id=name
    )


@pytest.mark.parametrize(
    ("make", "name", "original_type", "derived_type", "bands", "size", "derived_sizes"),
    [
        kind(lambda: jpeg(300, 200), "a.jpg", JPEG, JPEG),
        kind(
            lambda: jpeg(3000, 2000),
            "large.jpg",
            JPEG,
            JPEG,
            size=(3000, 2000),
            derived_sizes=((160, 107), (400, 267), (800, 533), (1500, 1000)),
        ),
        kind(
            lambda: jpeg(2000, 1),
            "line.jpg",
            JPEG,
            JPEG,
            size=(2000, 1),
            derived_sizes=((160, 1), (400, 1), (800, 1), (1500, 1)),
        ),
        kind(lambda: jpeg(1, 1), "dot.jpg", JPEG, JPEG, size=(1, 1), derived_sizes=((1, 1),) * 4),
        kind(lambda: jpeg(300, 200, cmyk=True, icc=profile("cmyk")), "cmyk.jpg", JPEG, JPEG),
        kind(lambda: jpeg(300, 200, icc=profile("p3")), "p3.jpg", JPEG, JPEG),
        kind(lambda: png(300, 200), "opaque.png", PNG, JPEG),
        kind(lambda: png(300, 200, alpha=True), "alpha.png", PNG, PNG, bands=4),
        kind(lambda: png(300, 200, bits=16), "deep.png", PNG, JPEG),
        kind(lambda: png(300, 200, bits=16, alpha=True), "deep-alpha.png", PNG, PNG, bands=4),
        kind(lambda: png(300, 200, grey=True), "grey.png", PNG, JPEG),
        kind(lambda: png(300, 200, grey=True, alpha=True), "grey-alpha.png", PNG, PNG, bands=4),
        kind(
            lambda: png(200, 300, palette=True),
            "palette.png",
            PNG,
            JPEG,
            size=(200, 300),
            derived_sizes=TALL_200X300,
        ),
        kind(lambda: gif(300, 200), "a.gif", GIF, JPEG),
        kind(lambda: gif(300, 200, frames=3), "animated.gif", GIF, JPEG),
        kind(lambda: webp(300, 200), "a.webp", WEBP, JPEG),
        kind(lambda: webp(300, 200, alpha=True), "alpha.webp", WEBP, PNG, bands=4),
        kind(lambda: webp(300, 200, frames=3), "animated.webp", WEBP, JPEG),
    ],
)
def test_image_kinds(
    api: httpx.Client,
    product: str,
    sources: SourceServer,
    make: Callable[[], bytes],
    name: str,
    original_type: str,
    derived_type: str,
    bands: int,
    size: tuple[int, int],
    derived_sizes: tuple[tuple[int, int], ...],
) -> None:
    content = make()
    image = Img(serve(sources, content, name, content_type=None), content, *size)
    result = put_media(api, product, main=image, gallery=[image])
    assert result == {"mainMedia": OK_MAIN, "galleryMedia": [ok("1")]}
    body = get_product(api, product)
    assert_media(body, image, [image])
    main_image, gallery_image = body["media"]["images"]
    # Same bytes, same files: main and gallery image share every URL.
    assert image_urls(main_image) == image_urls(gallery_image)
    original = fetch(main_image["imageOriginalUrl"])
    assert original.headers["content-type"] == original_type
    assert original.content == content
    for box, expected_size in zip(SIZE_FIELDS, derived_sizes, strict=True):
        derived = fetch(main_image[SIZE_FIELDS[box]])
        assert derived.status_code == 200
        assert derived.headers["content-type"] == derived_type, box
        decoded = decode(derived.content)
        assert (decoded.width, decoded.height) == expected_size, box
        assert decoded.bands == bands, box
        assert decoded.interpretation == "srgb", box
        assert not {"exif-data", "icc-profile-data"} & set(decoded.get_fields()), box
        # The first frame, right way up: the marker block is in the top-left corner.
        assert is_marker(decoded(0, 0), grey="grey" in name), box


def is_marker(pixel: list[float], grey: bool = False) -> bool:
    red, green, blue = pixel[:3]
    if grey:
        return min(red, green, blue) > 200
    return red > 180 and green < 80 and blue < 80


# Where the stored top-left corner is shown for each EXIF orientation, as (right, bottom).
CORNERS = {
    1: (False, False),
    2: (True, False),
    3: (True, True),
    4: (False, True),
    5: (False, False),
    6: (True, False),
    7: (True, True),
    8: (False, True),
}


@pytest.mark.parametrize("orientation", list(CORNERS))
def test_exif_orientation(
    api: httpx.Client, product: str, sources: SourceServer, orientation: int
) -> None:
    content = jpeg(300, 200, orientation=orientation)
    turned = orientation >= 5
    width, height = (200, 300) if turned else (300, 200)
    image = Img(serve(sources, content, "rotated.jpg"), content, width, height)
    assert put_media(api, product, main=image, gallery=[image])["galleryMedia"] == [ok("1")]
    body = get_product(api, product)
    assert_media(body, image, [image])
    assert (body["originalImage"]["width"], body["originalImage"]["height"]) == (width, height)
    gallery_image = body["galleryImages"][0]
    assert (gallery_image["width"], gallery_image["height"]) == (width, height)
    assert fetch_image_size(body["smallThumbnailUrl"]) == ((107, 160) if turned else (160, 107))
    assert fetch_image_size(body["thumbnailUrl"]) == (width, height)
    # The derived file is upright and carries no EXIF that would turn it again.
    derived = decode(fetch(body["hdThumbnailUrl"]).content)
    assert "exif-data" not in derived.get_fields()
    right, bottom = CORNERS[orientation]
    corners = {
        (r, b): is_marker(derived(width - 10 if r else 10, height - 10 if b else 10))
        for r in (False, True)
        for b in (False, True)
    }
    assert corners == {corner: corner == (right, bottom) for corner in corners}


def test_type_is_decided_by_the_bytes(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    content = png(120, 90)
    image = Img(serve(sources, content, "x.jpg", content_type="text/plain"), content, 120, 90)
    assert put_media(api, product, main=image) == {"mainMedia": OK_MAIN, "galleryMedia": []}
    body = get_product(api, product)
    assert_media(body, image, [])
    original = fetch(body["originalImageUrl"])
    assert original.headers["content-type"] == "image/png"
    assert original.content == content


# -- sources that cannot be used (DESIGN section 4) ----------------------------------------

TWENTY_ONE_MB = b"\xff\xd8\xff\xe0" + b"\0" * (21_000_000 - 4)


def _redirects(sources: SourceServer, hops: int, target: str) -> str:
    """A chain of `hops` redirects (mixed statuses, some relative) ending at `target`."""
    base = f"/media-http/{uuid.uuid4().hex}"
    statuses = (301, 302, 303, 307, 308)
    location = target
    for n in reversed(range(hops)):
        sources.redirect(f"{base}/hop{n}", location, status=statuses[n % len(statuses)])
        location = f"hop{n}" if n % 2 else sources.url(f"{base}/hop{n}")
    return sources.url(f"{base}/hop0")


def _loop(sources: SourceServer) -> str:
    base = f"/media-http/{uuid.uuid4().hex}"
    sources.redirect(f"{base}/a.jpg", sources.url(f"{base}/b.jpg"))
    sources.redirect(f"{base}/b.jpg", f"{base}/a.jpg")
    return sources.url(f"{base}/a.jpg")


def _internal(sources: SourceServer) -> str:
    return serve(sources, jpeg(40, 30)).replace("127.0.0.1", "127.0.0.2")


def _endless(sources: SourceServer) -> str:
    return sources.endless(f"/media-http/{uuid.uuid4().hex}/endless.jpg", b"\xff\xd8\xff" * 21_845)


BAD_SOURCES: dict[str, tuple[Callable[[SourceServer], str], str]] = {
    "http-404": (lambda s: serve(s, b"gone", status=404), "HTTP 404"),
    "http-500": (lambda s: serve(s, b"oops", status=500), "HTTP 500"),
    "six-redirects": (
        lambda s: _redirects(s, 6, serve(s, jpeg(40, 30))),
        "too many redirects",
    ),
    "redirect-loop": (_loop, "too many redirects"),
    "redirect-without-location": (lambda s: serve(s, b"", status=302), "redirect"),
    "oversize-21mb": (lambda s: serve(s, TWENTY_ONE_MB), f"larger than {DEFAULT_IMAGE_LIMIT}"),
    "oversize-declared-only": (
        lambda s: serve(s, jpeg(40, 30), content_length=21_000_000),
        f"larger than {DEFAULT_IMAGE_LIMIT}",
    ),
    "oversize-without-length": (_endless, f"larger than {DEFAULT_IMAGE_LIMIT}"),
    "length-longer-than-body": (
        lambda s: serve(s, jpeg(40, 30), content_length=50_000),
        "broken HTTP response",
    ),
    "length-shorter-than-body": (
        lambda s: serve(s, jpeg(200, 150), content_length=2_000),
        "truncated or corrupt JPEG",
    ),
    "png-bomb": (lambda s: serve(s, png_bomb(20_000, 20_000)), "more than the 100000000"),
    "jpeg-bomb": (lambda s: serve(s, jpeg_bomb(20_000, 20_000)), "more than the 100000000"),
    "gif-bomb": (lambda s: serve(s, gif_bomb(20_000, 20_000)), "more than the 100000000"),
    "webp-bomb": (lambda s: serve(s, webp_bomb(16_000, 16_000)), "more than the 100000000"),
    "truncated-jpeg": (
        lambda s: serve(s, truncated(jpeg(300, 200))),
        "truncated or corrupt JPEG",
    ),
    "truncated-png": (
        lambda s: serve(s, truncated(png(300, 200)), "t.png"),
        "truncated or corrupt PNG",
    ),
    "corrupt-jpeg": (
        lambda s: serve(s, b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8),
        "truncated or corrupt JPEG",
    ),
    "empty": (lambda s: serve(s, b""), "empty"),
    "gzip-encoded": (
        lambda s: serve(s, gzip.compress(jpeg(40, 30)), headers={"Content-Encoding": "gzip"}),
        "Content-Encoding",
    ),
    # 127.0.0.2 plays an internal host: the service refuses it without connecting.
    "refused-address": (_internal, "refused address"),
    "redirect-to-refused-address": (
        lambda s: serve(s, status=302, headers={"Location": _internal(s)}, body=b""),
        "refused address",
    ),
    "redirect-to-ftp": (
        lambda s: serve(s, status=302, headers={"Location": "ftp://127.0.0.1/a.jpg"}, body=b""),
        "non-http",
    ),
    "html-as-jpeg": (lambda s: serve(s, html()), "not an image"),
    "svg-as-jpeg": (lambda s: serve(s, svg()), "not an image"),
    "text": (lambda s: serve(s, b"hello", content_type="text/plain"), "not an image"),
}


@pytest.mark.parametrize("case", list(BAD_SOURCES))
def test_unusable_source(api: httpx.Client, product: str, sources: SourceServer, case: str) -> None:
    setup, reason = BAD_SOURCES[case]
    main, keep = new_image(sources, 48, 32), new_image(sources, 32, 48)
    put_media(api, product, main=main)
    bad = setup(sources)
    result = put_media(api, product, main={"imageUrl": bad}, gallery=[{"imageUrl": bad}, keep])
    assert set(result) == {"mainMedia", "galleryMedia"}
    assert len(result["galleryMedia"]) == 2
    for failed in (result["mainMedia"], result["galleryMedia"][0]):
        assert_failure(failed, "DOWNLOAD_IMAGE_FAILED", bad, reason)
    assert result["galleryMedia"][1] == ok("1")
    assert_media(get_product(api, product), main, [keep])


@pytest.mark.parametrize(
    ("make", "name"),
    [
        # Cut inside the third frame: the first frame is whole, the file is not.
        pytest.param(lambda: truncated(gif(300, 200, frames=3), 0.97), "cut.gif", id="gif-frame-3"),
        # A 300x200 frame with a single pixel of LZW data.
        pytest.param(lambda: gif_bomb(300, 200), "short.gif", id="gif-one-pixel"),
        # A 300x200 frame header over the scan data of a 16x16 image, then EOI.
        pytest.param(lambda: jpeg_bomb(300, 200), "short.jpg", id="jpeg-16x16-scan"),
    ],
)
def test_image_data_that_stops_short(
    api: httpx.Client, product: str, sources: SourceServer, make: Callable[[], bytes], name: str
) -> None:
    bad = serve(sources, make(), name)
    result = put_media(api, product, gallery=[{"imageUrl": bad}])
    assert_failure(result["galleryMedia"][0], "DOWNLOAD_IMAGE_FAILED", bad, "corrupt")
    assert_media(get_product(api, product), None, [])


def test_five_redirects_are_followed(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    content = distinct_jpeg()
    start = _redirects(sources, 5, serve(sources, content))
    image = Img(start, content, 96, 64)
    assert put_media(api, product, gallery=[image]) == {"galleryMedia": [ok("1")]}
    assert_media(get_product(api, product), None, [image])


# -- validation before any change ----------------------------------------------------------

LONG_URL = "http://127.0.0.1/" + "a" * 2048


@pytest.mark.parametrize(
    ("make_body", "status", "code", "says"),
    [
        (
            lambda good: {"galleryMedia": [{"imageUrl": good}, {"imageUrl": "ftp://127.0.0.1/a"}]},
            422,
            "WRONG_URL",
            "galleryMedia[1].imageUrl",
        ),
        (
            lambda good: {"mainMedia": {"imageUrl": "/images/a.jpg"}, "galleryMedia": []},
            422,
            "WRONG_URL",
            "mainMedia.imageUrl",
        ),
        (
            lambda good: {
                "mainMedia": {"imageUrl": good},
                "galleryMedia": [{"imageUrl": good}, {"videoUrl": "http://u:pw@127.0.0.1/v.mp4"}],
            },
            422,
            "WRONG_URL",
            "galleryMedia[1].videoUrl",
        ),
        (
            lambda good: {
                "mainMedia": {"imageUrl": good},
                "galleryMedia": [{"imageUrl": LONG_URL}],
            },
            422,
            "WRONG_URL",
            "galleryMedia[0].imageUrl",
        ),
        (
            lambda good: {"mainMedia": {"videoUrl": "javascript:alert(1)"}},
            422,
            "WRONG_URL",
            "mainMedia.videoUrl",
        ),
        (
            lambda good: {"galleryMedia": [{"imageUrl": good}, {}]},
            400,
            "WRONG_PARAMETER",
            "galleryMedia[1]",
        ),
        (
            lambda good: {"galleryMedia": [{"imageUrl": good}, {"imageUrl": None, "videoUrl": ""}]},
            400,
            "WRONG_PARAMETER",
            "galleryMedia[1]",
        ),
        (lambda good: {"mainMedia": {"imageUrl": 5}}, 400, "WRONG_PARAMETER", "imageUrl"),
        (lambda good: {"galleryMedia": {}}, 400, "WRONG_PARAMETER", "galleryMedia"),
        (lambda good: {"galleryMedia": [good]}, 400, "WRONG_PARAMETER", "galleryMedia"),
        (lambda good: {"mainMedia": good}, 400, "WRONG_PARAMETER", "mainMedia"),
        (lambda good: [{"imageUrl": good}], 400, "WRONG_PARAMETER", ""),
    ],
    ids=[
        "ftp",
        "relative",
        "credentials",
        "too-long",
        "javascript",
        "item-without-url",
        "item-with-empty-urls",
        "url-not-a-string",
        "gallery-an-object",
        "gallery-of-strings",
        "main-a-string",
        "body-an-array",
    ],
)
def test_invalid_request_changes_nothing(
    api: httpx.Client,
    product: str,
    sources: SourceServer,
    seeded: tuple[Img, list[Img]],
    make_body: Callable[[str], Any],
    status: int,
    code: str,
    says: str,
) -> None:
    before = get_product(api, product)
    path = f"/media-http/{uuid.uuid4().hex}/never.jpg"
    good = sources.add(path, distinct_jpeg())
    response = api.put(f"{product}/media", json=make_body(good))
    assert response.status_code == status, response.text
    error = response.json()
    assert error["errorCode"] == code
    assert says in error["errorMessage"]
    assert get_product(api, product) == before
    assert sources.hits(path) == 0


def test_url_of_2048_characters_is_fetched_and_2049_is_not(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    content = distinct_jpeg()
    base = serve(sources, b"")
    url = sources.add(urlsplit(base).path + "x" * (2048 - len(base) - 4) + ".jpg", content)
    assert len(url) == 2048
    image = Img(url, content, 96, 64)
    assert put_media(api, product, gallery=[image]) == {"galleryMedia": [ok("1")]}
    response = api.put(f"{product}/media", json={"galleryMedia": [{"imageUrl": url + "g"}]})
    assert response.status_code == 422
    assert response.json()["errorCode"] == "WRONG_URL"
    assert "galleryMedia[0].imageUrl" in response.json()["errorMessage"]
    assert_media(get_product(api, product), None, [image])


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"galleryMedia": [', "application/json", 400),
        (b"", "application/json", 400),
        (b"null", "application/json", 400),
        (b'{"galleryMedia": [null]}', "application/json", 400),
        (b'{"mainMedia": {"imageUrl": ["http://127.0.0.1/a.jpg"]}}', "application/json", 400),
        (b"galleryMedia=", "application/json", 400),
        (b'{"galleryMedia": []}', "text/plain", 415),
        (b'{"galleryMedia": []}', "application/x-www-form-urlencoded", 415),
        (b"galleryMedia=", "multipart/form-data; boundary=x", 415),
    ],
    ids=[
        "truncated-json",
        "empty",
        "null",
        "null-item",
        "url-a-list",
        "not-json",
        "text-plain",
        "form",
        "multipart",
    ],
)
def test_unreadable_body_changes_nothing(
    api: httpx.Client,
    product: str,
    seeded: tuple[Img, list[Img]],
    content: bytes,
    content_type: str,
    status: int,
) -> None:
    before = get_product(api, product)
    response = api.put(f"{product}/media", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["errorMessage"]
    if status == 400:
        assert response.json()["errorCode"] == "WRONG_PARAMETER"
    assert get_product(api, product) == before


def _big_body() -> bytes:
    return json.dumps({"galleryMedia": [], "padding": "x" * (MIB + 10)}).encode()


def test_body_over_one_mib(api: httpx.Client, product: str, seeded: tuple[Img, list[Img]]) -> None:
    before = get_product(api, product)
    response = api.put(
        f"{product}/media", content=_big_body(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errorMessage"]
    assert get_product(api, product) == before


def test_body_over_one_mib_without_length(
    api: httpx.Client, product: str, seeded: tuple[Img, list[Img]]
) -> None:
    before = get_product(api, product)
    body = _big_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = api.put(
        f"{product}/media", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert get_product(api, product) == before


def test_body_of_exactly_one_mib_is_read(
    api: httpx.Client, product: str, seeded: tuple[Img, list[Img]]
) -> None:
    main, _ = seeded
    # Whitespace pads it: a padding field would be refused as unknown.
    start = b'{"galleryMedia": []'
    content = start + b" " * (MIB - len(start) - 1) + b"}"
    assert len(content) == MIB
    response = api.put(
        f"{product}/media", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert_media(get_product(api, product), main, [])


def test_unknown_product(
    api: httpx.Client, store_path: str, product: str, sources: SourceServer
) -> None:
    path = f"/media-http/{uuid.uuid4().hex}/never.jpg"
    good = sources.add(path, distinct_jpeg())
    missing = int(product.rsplit("/", 1)[1]) + 1_000_000
    response = api.put(
        f"{store_path}/products/{missing}/media", json={"galleryMedia": [{"imageUrl": good}]}
    )
    assert response.status_code == 404
    assert response.json()["errorCode"] == "PRODUCT_NOT_FOUND"
    assert str(missing) in response.json()["errorMessage"]
    assert sources.hits(path) == 0


def test_product_of_another_store(
    api: httpx.Client, service: InProcessService, store_path: str, sources: SourceServer
) -> None:
    other_store, other_token = service.new_store()
    with service.client(other_token) as other:
        other_path = f"/api/v3/{other_store}/products"
        other_id = other.post(other_path, json={"name": "Theirs"}).json()["id"]
        image = new_image(sources)
        put_media(other, f"{other_path}/{other_id}", gallery=[image])
        before = get_product(other, f"{other_path}/{other_id}")
        response = api.put(f"{store_path}/products/{other_id}/media", json={"galleryMedia": []})
        assert response.status_code == 404
        assert response.json()["errorCode"] == "PRODUCT_NOT_FOUND"
        assert get_product(other, f"{other_path}/{other_id}") == before


@pytest.mark.parametrize("product_id", ["abc", "0", "-1", "1.5", str(2**63)])
def test_product_id_that_is_not_a_positive_integer(
    api: httpx.Client, store_path: str, product_id: str
) -> None:
    response = api.put(f"{store_path}/products/{product_id}/media", json={"galleryMedia": []})
    assert response.status_code in (400, 404), response.text
    error = response.json()
    assert error["errorMessage"]
    if response.status_code == 400:
        assert error["errorCode"] == "WRONG_PARAMETER"
    response = api.get(f"{store_path}/products/{product_id}")
    assert response.status_code in (400, 404), response.text
    assert response.json()["errorMessage"]


# -- serving and caching --------------------------------------------------------------------


def test_media_urls_are_served_with_caching_headers(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    content = png(200, 100, alpha=True)
    image = Img(serve(sources, content, "a.png"), content, 200, 100)
    put_media(api, product, main=image)
    body = get_product(api, product)
    shown = body["media"]["images"][0]
    etags = set()
    for field in (*SIZE_FIELDS.values(), "imageOriginalUrl"):
        url = shown[field]
        response = fetch(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == CACHE_CONTROL
        assert response.headers["x-content-type-options"] == "nosniff"
        etag = response.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag
        assert not etag.startswith("W/")
        etags.add(etag)
        again = fetch(url, **{"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == CACHE_CONTROL
        assert fetch(url, **{"If-None-Match": f'"other", {etag}'}).status_code == 304
        assert fetch(url, **{"If-None-Match": f"W/{etag}"}).status_code == 304
        changed = fetch(url, **{"If-None-Match": '"something-else"'})
        assert changed.status_code == 200
        assert changed.content == response.content
        head = _browser.head(url)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == etag
        assert head.headers["content-type"] == "image/png"
        assert int(head.headers["content-length"]) == len(response.content)
    # 200x100 fits in every box but the smallest, so three derived sizes are one and the same file.
    assert len(etags) == 3


def test_media_files_answer_ranges(api: httpx.Client, product: str, sources: SourceServer) -> None:
    content = distinct_jpeg()
    put_media(api, product, main=Img(serve(sources, content, "r.jpg"), content, 96, 64))
    url = get_product(api, product)["media"]["images"][0]["imageOriginalUrl"]
    part = fetch(url, Range="bytes=0-9")
    assert part.status_code == 206
    assert part.content == content[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(content)}"
    tail = fetch(url, Range="bytes=-3")
    assert (tail.status_code, tail.content) == (206, content[-3:])
    # A Range this server cannot read is ignored, as RFC 9110 allows: the whole file.
    for malformed in ("bytes=9-2", "pages=1-2", "bytes=abc", "nonsense"):
        whole = fetch(url, Range=malformed)
        assert (whole.status_code, whole.content) == (200, content), malformed
    past = fetch(url, Range=f"bytes={len(content) + 10}-")
    assert past.status_code == 416
    assert past.json()["errorCode"] == "RANGE_NOT_SATISFIABLE"
    assert past.headers["content-range"] == f"bytes */{len(content)}"


@pytest.mark.parametrize(
    "key",
    [
        "0" * 64 + ".jpg",
        "f" * 64 + ".png",
        "none",
        "..%2Fcatalog.db",
        "0" * 64 + ".exe",
        "0" * 63 + ".jpg",
    ],
)
def test_unknown_media_key(service: InProcessService, key: str) -> None:
    response = fetch(f"{service.url}/media/{key}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errorCode"]
    assert response.json()["errorMessage"]


# -- files nobody uses any more ------------------------------------------------------------


def test_replaced_media_files_are_deleted(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    # 200 px wide: the 160 px file differs from the others, which are one file (no upscaling).
    main = new_image(sources, 200, 150)
    gallery = [new_image(sources, 200, 150), new_image(sources, 150, 200)]
    put_media(api, product, main=main, gallery=gallery)
    first = get_product(api, product)
    main_urls = set(image_urls(first["media"]["images"][0]))
    gallery_urls = all_urls(first) - main_urls
    assert len(main_urls) == 3
    assert len(gallery_urls) == 6
    assert_served(all_urls(first))

    replacement = new_image(sources, 90, 60)
    assert put_media(api, product, gallery=[replacement]) == {"galleryMedia": [ok("1")]}
    second = get_product(api, product)
    assert_media(second, main, [replacement])
    assert_served(all_urls(second))
    assert_gone(gallery_urls)

    new_main = new_image(sources)
    put_media(api, product, main=new_main, gallery=[replacement])
    third = get_product(api, product)
    assert_media(third, new_main, [replacement])
    assert_served(all_urls(third))
    assert_gone(main_urls)


def test_shared_files_survive_while_another_product_uses_them(
    api: httpx.Client, store_path: str, sources: SourceServer
) -> None:
    shared_content = distinct_jpeg(100, 75)
    shared = Img(serve(sources, shared_content), shared_content, 100, 75)
    # The same bytes from another address: the files are shared by content, not by URL.
    shared_elsewhere = Img(serve(sources, shared_content, "copy.jpg"), shared_content, 100, 75)
    products = [new_product(api, store_path, name) for name in ("One", "Two")]
    put_media(api, products[0], main=shared, gallery=[shared])
    put_media(api, products[1], gallery=[shared_elsewhere])
    one, two = (get_product(api, p) for p in products)
    assert all_urls(two) <= all_urls(one)
    shared_urls = all_urls(two)

    other = new_image(sources)
    put_media(api, products[0], main=other, gallery=[other])
    assert_media(get_product(api, products[1]), None, [shared_elsewhere])
    assert_served(shared_urls)

    # A third product with the same files comes and goes: the second one keeps them.
    third = new_product(api, store_path, "Three")
    put_media(api, third, main=shared, gallery=[shared_elsewhere])
    assert api.delete(third).json() == {"deleteCount": 1}
    assert_media(get_product(api, products[1]), None, [shared_elsewhere])
    assert_served(shared_urls)

    put_media(api, products[1], gallery=[])
    assert_gone(shared_urls)
    assert_served(all_urls(get_product(api, products[0])))


def test_deleting_a_product_deletes_its_files(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    main = new_image(sources, 200, 150)
    gallery = [new_image(sources, 200, 150), new_image(sources, 150, 200)]
    put_media(api, product, main=main, gallery=gallery)
    urls = all_urls(get_product(api, product))
    assert len(urls) == 9
    assert_served(urls)

    response = api.delete(product)
    assert response.status_code == 200, response.text
    assert response.json() == {"deleteCount": 1}
    assert_gone(urls)
    response = api.get(product)
    assert response.status_code == 404
    assert response.json()["errorCode"] == "PRODUCT_NOT_FOUND"
    assert api.delete(product).status_code == 404
    response = api.put(f"{product}/media", json={"galleryMedia": []})
    assert response.status_code == 404
    assert response.json()["errorCode"] == "PRODUCT_NOT_FOUND"


def test_putting_the_same_media_again_keeps_its_files(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    main, gallery = new_image(sources, 200, 150), [new_image(sources, 150, 200)]
    put_media(api, product, main=main, gallery=gallery)
    first = get_product(api, product)
    for _ in range(2):
        result = put_media(api, product, main=main, gallery=gallery)
        assert result == {"mainMedia": OK_MAIN, "galleryMedia": [ok("1")]}
        body = get_product(api, product)
        assert_media(body, main, gallery)
        assert all_urls(body) == all_urls(first)
        assert_served(all_urls(body))
    # The same bytes moved from the gallery to the main image and back.
    put_media(api, product, main=gallery[0], gallery=[main])
    assert_media(get_product(api, product), gallery[0], [main])
    assert_served(all_urls(first))


def test_deleting_a_product_during_its_update(
    api: httpx.Client, service: InProcessService, product: str, sources: SourceServer
) -> None:
    old = new_image(sources, 200, 150)
    put_media(api, product, main=old)
    old_urls = all_urls(get_product(api, product))
    content = distinct_jpeg(48, 32)
    assert len(content) > 1000  # a second or more at a byte a millisecond
    slow = sources.drip(f"/media-http/{uuid.uuid4().hex}/slow.jpg", content, 0.001)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            api.put, f"{product}/media", json={"galleryMedia": [{"imageUrl": slow}]}
        )
        while sources.hits(urlsplit(slow).path) == 0:
            assert not pending.done()
            time.sleep(0.01)
        deleted = api.delete(product)
        response = pending.result(timeout=60)
    assert deleted.json() == {"deleteCount": 1}
    assert response.status_code == 404, response.text
    assert response.json()["errorCode"] == "PRODUCT_NOT_FOUND"
    assert api.get(product).status_code == 404
    assert_gone(old_urls)
    assert_gone([blob_url(service, content)])


def test_updates_of_products_sharing_files(
    service: InProcessService, store: tuple[int, str], store_path: str, sources: SourceServer
) -> None:
    """Products that take the same files on and off at the same time never lose a file."""
    shared = [new_image(sources, 200, 150), new_image(sources, 150, 200)]
    galleries = [[shared[0]], [shared[1]], [], shared, [shared[1], shared[0]]]
    with service.client(store[1]) as client:
        products = [new_product(client, store_path, name) for name in ("a", "b", "c", "d")]

    def churn(n: int) -> list[list[Img]]:
        sent = []
        with service.client(store[1]) as client:
            for step in range(len(galleries)):
                gallery = galleries[(n + step) % len(galleries)]
                put_media(client, products[n], gallery=gallery)
                sent.append(gallery)
        return sent

    with ThreadPoolExecutor(len(products)) as pool:
        last = [sent[-1] for sent in pool.map(churn, range(len(products)))]
    shown: set[str] = set()
    with service.client(store[1]) as client:
        for path, gallery in zip(products, last, strict=True):
            body = get_product(client, path)
            assert_media(body, None, gallery)
            shown |= all_urls(body)
    assert_served(shown)
    with service.client(store[1]) as client:
        for path in products:
            put_media(client, path, gallery=[])
    assert_gone(shown)


# -- concurrent updates --------------------------------------------------------------------


def test_concurrent_updates_leave_one_request_outcome(
    service: InProcessService, store: tuple[int, str], product: str, sources: SourceServer
) -> None:
    requests = [
        (new_image(sources, 64, 48), [new_image(sources, 48, 64) for _ in range(n + 1)])
        for n in range(10)
    ]
    barrier = threading.Barrier(len(requests))

    def send(request: tuple[Img, list[Img]]) -> dict[str, Any]:
        main, gallery = request
        with service.client(store[1]) as client:
            barrier.wait(timeout=30)
            return put_media(client, product, main=main, gallery=gallery)

    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(send, requests))
    for (_, gallery), result in zip(requests, results, strict=True):
        assert result == {
            "mainMedia": OK_MAIN,
            "galleryMedia": [ok(str(n)) for n in range(1, len(gallery) + 1)],
        }

    with service.client(store[1]) as client:
        body = get_product(client, product)
    shown_main = original_bytes(body["media"]["images"][0])
    winners = [n for n, (main, _) in enumerate(requests) if main.content == shown_main]
    assert len(winners) == 1
    main, gallery = requests[winners[0]]
    assert_media(body, main, gallery)
    assert_served(all_urls(body))
    losers = [img for n, (m, g) in enumerate(requests) if n != winners[0] for img in (m, *g)]
    assert_gone([blob_url(service, img.content) for img in losers])


# -- restart -------------------------------------------------------------------------------


def test_everything_survives_a_restart_and_a_crash(tmp_path: Path, sources: SourceServer) -> None:
    service = loopback_service(tmp_path / "data").start()
    try:
        store_id, token = service.new_store()
        with service.client(token) as client:
            product = new_product(client, f"/api/v3/{store_id}", "Lamp")
            main = new_image(sources, 200, 150)
            gallery = [new_image(sources, 200, 150), new_image(sources, 150, 200)]
            put_media(client, product, main=main, gallery=gallery)
            before = get_product(client, product)
        files = {url: fetch(url).content for url in all_urls(before)}
        assert len(files) == 9

        # A clean stop and start on the same data folder.
        service.stop(signal.SIGTERM)
        for url in files:
            with pytest.raises(httpx.TransportError):
                fetch(url)
        service.start()
        with service.client(token) as client:
            after = get_product(client, product)
            assert after == before
            assert_media(after, main, gallery)
            for url, content in files.items():
                response = fetch(url)
                assert response.status_code == 200
                assert response.content == content
            replacement = [new_image(sources, 150, 200)]
            assert put_media(client, product, gallery=replacement) == {"galleryMedia": [ok("1")]}
            before = get_product(client, product)
            assert_media(before, main, replacement)

        # A crash while an update is under way: one source has arrived, the other is dripping.
        fast = new_image(sources)
        slow = sources.drip(f"/media-http/{uuid.uuid4().hex}/slow.jpg", distinct_jpeg(), 0.05)
        update = {"mainMedia": {"imageUrl": fast.url}, "galleryMedia": [{"imageUrl": slow}]}

        def send() -> None:
            with service.client(token) as client, pytest.raises(httpx.TransportError):
                client.put(f"{product}/media", json=update)

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(send)
            while sources.hits(urlsplit(slow).path) == 0:
                time.sleep(0.01)
            time.sleep(0.3)
            service.stop(signal.SIGKILL)
            pending.result(timeout=30)
        service.start()
        with service.client(token) as client:
            after = get_product(client, product)
        assert after == before
        assert_media(after, main, replacement)
        assert_served(all_urls(after))
    finally:
        service.stop()
