"""Videos over HTTP (DESIGN sections 2, 3 and 8), on both backends: in PUT .../media, in GET
product, served with ranges, and Ecwid's single-video endpoints.

Videos are made by the tests with PyAV and served by a real source server on 127.0.0.1, which
also stands in for YouTube's and Vimeo's oEmbed endpoints (the service's settings point at it):
no test reaches the real sites.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import pyvips

from tests.inprocess import ROUTER, Backend, InProcessService, running
from tests.media_factory import html, jpeg, png
from tests.source_server import SourceServer
from tests.video_factory import audio_only, mov, mp4, video, webm

YOUTUBE_OEMBED = "/videos-http/youtube/oembed"
VIMEO_OEMBED = "/videos-http/vimeo/oembed.json"
YT = "dQw4w9WgXcQ"
SIZES = ("image160pxUrl", "image400pxUrl", "image800pxUrl", "image1500pxUrl")
COVER_FIELDS = {*SIZES, "imageOriginalUrl", "videoCoverId"}
MAX_VIDEO_BYTES = 300_000
MAX_SECONDS = 30

_browser = httpx.Client(timeout=30, transport=ROUTER)


@pytest.fixture(scope="module")
def videos(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend, sources: SourceServer
) -> Iterator[InProcessService]:
    """The service, its oEmbed endpoints on the source server, with small video limits."""
    service = InProcessService(
        tmp_path_factory.mktemp("videos"),
        backend,
        youtube_oembed_url=sources.url(YOUTUBE_OEMBED),
        vimeo_oembed_url=sources.url(VIMEO_OEMBED),
        video_max_bytes=MAX_VIDEO_BYTES,
        video_max_seconds=MAX_SECONDS,
    )
    with running(service):
        yield service


@pytest.fixture
def store(videos: InProcessService) -> tuple[int, str]:
    return videos.new_store()


@pytest.fixture
def api(videos: InProcessService, store: tuple[int, str]) -> Iterator[httpx.Client]:
    with videos.client(store[1]) as client:
        yield client


@pytest.fixture
def product(api: httpx.Client, store: tuple[int, str]) -> str:
    response = api.post(f"/api/v3/{store[0]}/products", json={"name": "Clip"})
    assert response.status_code == 200, response.text
    return f"/api/v3/{store[0]}/products/{response.json()['id']}"


def serve(sources: SourceServer, body: bytes, name: str = "clip.mp4", **options: Any) -> str:
    return sources.add(f"/videos-http/{uuid.uuid4().hex}/{name}", body, **options)


def oembed(sources: SourceServer, path: str, answer: object, status: int = 200) -> None:
    body = json.dumps(answer).encode()
    sources.add(path, body, status=status, headers={"Content-Type": "application/json"})


def youtube_oembed(sources: SourceServer, title: str = "A song") -> bytes:
    """YouTube's stand-in answers with `title` and a 480x360 thumbnail; returns its bytes."""
    thumbnail = jpeg(480, 360)
    oembed(
        sources,
        YOUTUBE_OEMBED,
        {"type": "video", "title": title, "thumbnail_url": serve(sources, thumbnail, "hq.jpg")},
    )
    return thumbnail


def fetch(url: str, **headers: str) -> httpx.Response:
    assert url.startswith("http://127.0.0.1:"), url
    return _browser.get(url, headers=headers)


def size_of(url: str) -> tuple[int, int]:
    response = fetch(url)
    assert response.status_code == 200, url
    image = pyvips.Image.new_from_buffer(response.content, "")
    return image.width, image.height


def put_media(api: httpx.Client, product: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.put(f"{product}/media", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def get(api: httpx.Client, path: str) -> dict[str, Any]:
    response = api.get(path)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_file_video(shown: dict[str, Any], content: bytes, mime: str, w: int, h: int) -> None:
    """`shown` (from media.videos) is a stored file of `content` with a cover frame."""
    assert shown["providerName"] == "" and "title" not in shown
    assert shown.keys() >= COVER_FIELDS
    assert isinstance(shown["videoCoverId"], int)
    served = fetch(shown["url"])
    assert (served.status_code, served.content) == (200, content)
    assert served.headers["content-type"] == mime
    assert shown["url"].endswith(f"/media/{hashlib.sha256(content).hexdigest()}.{mime[6:10]}")
    poster = shown["image1500pxUrl"]
    assert shown["embedHtml"] == (
        f'<video controls preload="metadata" playsinline style="max-width:100%" '
        f'poster="{poster}"><source src="{shown["url"]}" type="{mime}"></video>'
    )
    assert size_of(shown["imageOriginalUrl"]) == (w, h)
    expected = {160: (160, 120), 400: (w, h), 800: (w, h), 1500: (w, h)} if w == 320 else None
    if expected is not None:
        for size, field in zip((160, 400, 800, 1500), SIZES, strict=True):
            assert size_of(shown[field]) == expected[size], field


def assert_youtube(shown: dict[str, Any], url: str, title: str | None) -> None:
    assert (shown["url"], shown["providerName"]) == (url, "YouTube")
    player = f"https://www.youtube-nocookie.com/embed/{YT}"
    assert f'<iframe src="{player}" title="{title or "YouTube video"}"' in shown["embedHtml"]
    assert "allowfullscreen" in shown["embedHtml"]
    if title is None:
        assert not ({"title"} | COVER_FIELDS) & shown.keys()
    else:
        assert shown["title"] == title and shown.keys() >= COVER_FIELDS


# -- PUT .../media and GET product ----------------------------------------------------------


def test_a_gallery_of_images_and_videos(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    """Ids count images and videos apart; orderBy counts the whole gallery; a gallery item
    with both URLs is a video with that image as its cover."""
    main_image, b_image, c_image, d_cover = (jpeg(96 + i, 64) for i in range(4))
    main_video, w_video, x_video = mp4(), webm(), mov()
    youtube = f"https://youtu.be/{YT}"
    youtube_oembed(sources)
    result = put_media(
        api,
        product,
        {
            "mainMedia": {
                "imageUrl": serve(sources, main_image, "a.jpg"),
                "videoUrl": serve(sources, main_video),
            },
            "galleryMedia": [
                {"imageUrl": serve(sources, b_image, "b.jpg")},
                {"videoUrl": serve(sources, w_video, "w.webm")},
                {"videoUrl": youtube},
                {"imageUrl": serve(sources, c_image, "c.jpg")},
                {
                    "videoUrl": serve(sources, x_video, "x.mov"),
                    "imageUrl": serve(sources, d_cover, "d.jpg"),
                },
            ],
        },
    )
    assert result == {
        "mainMedia": {"success": True, "id": "0"},
        "galleryMedia": [
            {"success": True, "id": "1"},
            {"success": True, "id": "1"},
            {"success": True, "id": "2"},
            {"success": True, "id": "2"},
            {"success": True, "id": "3"},
        ],
    }
    body = get(api, product)
    images, shown = body["media"]["images"], body["media"]["videos"]
    assert [(i["id"], i["orderBy"], i["isMain"]) for i in images] == [
        ("0", 0, True),
        ("1", 1, False),
        ("2", 4, False),
    ]
    assert [item["orderBy"] for item in body["galleryImages"]] == [1, 4]
    assert [(v["id"], v["orderBy"]) for v in shown] == [("0", 0), ("1", 2), ("2", 3), ("3", 5)]
    assert_file_video(shown[0], main_video, "video/mp4", 320, 240)
    assert_file_video(shown[1], w_video, "video/webm", 320, 240)
    assert_youtube(shown[2], youtube, "A song")
    assert size_of(shown[2]["image1500pxUrl"]) == (480, 360)
    assert fetch(shown[3]["url"]).content == x_video
    assert fetch(shown[3]["imageOriginalUrl"]).content == d_cover
    covers = [v["videoCoverId"] for v in shown]
    assert len(set(covers)) == 4
    # The main image stays the legacy fields' source; no video shows among the images.
    assert fetch(body["originalImageUrl"]).content == main_image


def test_main_media_image_and_video_are_kept_apart(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    first = put_media(api, product, {"mainMedia": {"videoUrl": serve(sources, mp4())}})
    assert first["mainMedia"] == {"success": True, "id": "0"}
    body = get(api, product)
    assert body["media"]["images"] == [] and len(body["media"]["videos"]) == 1
    # An image alone replaces both: the main video goes (DESIGN section 3).
    put_media(api, product, {"mainMedia": {"imageUrl": serve(sources, jpeg(50, 40), "a.jpg")}})
    body = get(api, product)
    assert len(body["media"]["images"]) == 1 and body["media"]["videos"] == []


def test_a_provider_video_without_oembed_has_no_title_or_cover(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    oembed(sources, YOUTUBE_OEMBED, {"error": "gone"}, status=404)
    youtube = f"https://www.youtube.com/watch?v={YT}"
    cover = jpeg(64, 36)
    result = put_media(
        api,
        product,
        {
            "galleryMedia": [
                {"videoUrl": youtube},
                {"videoUrl": youtube, "imageUrl": serve(sources, cover, "cover.jpg")},
            ]
        },
    )
    warning = (
        f"{youtube}: added without YouTube's title and thumbnail (oEmbed: HTTP 404 from source)"
    )
    assert result["galleryMedia"] == [
        {"success": True, "id": "1", "warning": warning},
        {"success": True, "id": "2", "warning": warning},
    ]
    bare, covered = get(api, product)["media"]["videos"]
    assert_youtube(bare, youtube, None)
    # A gallery item's own image is its cover all the same.
    assert "title" not in covered and covered.keys() >= COVER_FIELDS
    assert fetch(covered["imageOriginalUrl"]).content == cover


def test_a_vimeo_link(api: httpx.Client, product: str, sources: SourceServer) -> None:
    oembed(
        sources,
        VIMEO_OEMBED,
        {"title": "Waves", "thumbnail_url": serve(sources, jpeg(640, 360), "v.jpg")},
    )
    link = "https://player.vimeo.com/video/76979871"
    put_media(api, product, {"mainMedia": {"videoUrl": link}})
    (shown,) = get(api, product)["media"]["videos"]
    assert (shown["url"], shown["providerName"], shown["title"]) == (link, "Vimeo", "Waves")
    assert (
        '<iframe src="https://player.vimeo.com/video/76979871" title="Waves"'
        in (shown["embedHtml"])
    )
    assert size_of(shown["image400pxUrl"]) == (400, 225)


def test_video_files_are_served_with_ranges(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    content = mp4(audio=True)
    put_media(api, product, {"mainMedia": {"videoUrl": serve(sources, content)}})
    (shown,) = get(api, product)["media"]["videos"]
    part = fetch(shown["url"], Range="bytes=100-1099")
    assert part.status_code == 206
    assert part.content == content[100:1100]
    assert part.headers["accept-ranges"] == "bytes"
    assert part.headers["content-range"] == f"bytes 100-1099/{len(content)}"
    assert part.headers["content-type"] == "video/mp4"
    tail = fetch(shown["url"], Range="bytes=-10")
    assert (tail.status_code, tail.content) == (206, content[-10:])


@pytest.mark.parametrize(
    ("make", "name", "reason"),
    [
        (html, "page.html", "not a video file (MP4, MOV or WebM)"),
        (lambda: jpeg(40, 30), "pic.jpg", "an image (image/jpeg), not a video"),
        (audio_only, "song.mp4", "the file has no video stream"),
        (lambda: mp4()[:4000], "cut.mp4", "not a readable video"),
        (lambda: mp4() + b"\0" * MAX_VIDEO_BYTES, "big.mp4", f"larger than {MAX_VIDEO_BYTES}"),
        (
            lambda: video("mp4", "libx264", w=64, h=48, seconds=40, fps=1),
            "long.mp4",
            "40.0 s is longer than the 30 s allowed",
        ),
        (lambda: video("mp4", "mpeg4"), "old.mp4", "video codec mpeg4 is not supported"),
    ],
)
def test_videos_that_cannot_be_used(
    api: httpx.Client, product: str, sources: SourceServer, make: Any, name: str, reason: str
) -> None:
    kept = serve(sources, mp4())
    put_media(api, product, {"mainMedia": {"videoUrl": kept}})
    before = get(api, product)["media"]
    url = serve(sources, make(), name)
    result = put_media(
        api, product, {"mainMedia": {"videoUrl": url}, "galleryMedia": [{"videoUrl": url}]}
    )
    for item in (result["mainMedia"], *result["galleryMedia"]):
        assert item["success"] is False and item["errorCode"] == "DOWNLOAD_VIDEO_FAILED"
        assert item["errorMessage"].startswith(f"{url}: {reason}"), item["errorMessage"]
    # A failed main video keeps the main media as it was; the failed gallery item is left out.
    assert get(api, product)["media"] == before


# -- the single-video endpoints -------------------------------------------------------------


def test_add_main_and_gallery_videos(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    image = serve(sources, jpeg(60, 40), "a.jpg")
    put_media(
        api, product, {"mainMedia": {"imageUrl": image}, "galleryMedia": [{"imageUrl": image}]}
    )
    main = api.post(f"{product}/video", json={"url": serve(sources, mp4())})
    assert main.status_code == 200, main.text
    assert set(main.json()) == {"id"} and isinstance(main.json()["id"], int)
    youtube_oembed(sources, "Tune")
    youtube = f"https://www.youtube.com/shorts/{YT}"
    added = api.post(f"{product}/gallery/video", json={"url": youtube})
    assert added.status_code == 200, added.text
    gallery_id = added.json()["id"]
    content = webm()
    second = api.post(f"{product}/gallery/video/", json={"url": serve(sources, content)})
    assert second.status_code == 200, second.text
    assert len({main.json()["id"], gallery_id, second.json()["id"]}) == 3
    body = get(api, product)
    # The main image stays; the gallery grows at its end.
    assert [i["id"] for i in body["media"]["images"]] == ["0", "1"]
    assert [(v["id"], v["orderBy"]) for v in body["media"]["videos"]] == [
        ("0", 0),
        ("1", 2),
        ("2", 3),
    ]
    one = get(api, f"{product}/gallery/video/{gallery_id}")
    assert one == {**body["media"]["videos"][1], "id": gallery_id}
    assert_youtube(one, youtube, "Tune")
    other = get(api, f"{product}/gallery/video/{second.json()['id']}")
    assert_file_video(other, content, "video/webm", 320, 240)
    assert other["orderBy"] == 3


@pytest.mark.parametrize("path", ["video", "gallery/video"])
@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (html, 422, "NOT_VIDEO_URL"),
        (lambda: png(20, 20), 422, "NOT_VIDEO_URL"),
        (audio_only, 422, "NOT_VIDEO_URL"),
        (
            lambda: video("webm", "libvpx-vp9", w=64, h=48, seconds=40, fps=1),
            422,
            "VIDEO_NOT_SUPPORTED",
        ),
        (lambda: b"\x1a\x45\xdf\xa3" * (MAX_VIDEO_BYTES // 3), 422, "VIDEO_NOT_SUPPORTED"),
        (lambda: mp4()[:5000], 422, "VIDEO_UNAVAILABLE"),
        (None, 422, "VIDEO_UNAVAILABLE"),
    ],
)
def test_videos_the_endpoints_refuse(
    api: httpx.Client,
    product: str,
    sources: SourceServer,
    path: str,
    make: Any,
    status: int,
    code: str,
) -> None:
    url = serve(sources, make()) if make is not None else sources.url(f"/gone/{uuid.uuid4()}")
    response = api.post(f"{product}/{path}", json={"url": url})
    assert (response.status_code, response.json()["errorCode"]) == (status, code), response.text
    assert response.json()["errorMessage"].startswith(f"{url}: ")
    assert get(api, product)["media"] == {"images": [], "videos": []}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "ftp://example.com/a.mp4"}, 422, "WRONG_URL"),
        ({"url": "https://user:pw@example.com/a.mp4"}, 422, "WRONG_URL"),
        ({"url": ""}, 422, "WRONG_URL"),
        ({}, 400, "WRONG_PARAMETER"),
        ({"url": 5}, 400, "WRONG_PARAMETER"),
        # A misspelt field is refused, never ignored.
        ({"url": "https://youtu.be/dQw4w9WgXcQ", "videoUrl": "x"}, 400, "WRONG_PARAMETER"),
    ],
)
def test_malformed_video_requests(
    api: httpx.Client, product: str, body: dict[str, Any], status: int, code: str
) -> None:
    for path in ("video", "gallery/video"):
        response = api.post(f"{product}/{path}", json=body)
        assert (response.status_code, response.json()["errorCode"]) == (status, code)


def test_unknown_products_and_videos(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    missing = re.sub(r"/products/\d+", "/products/999999999", product)
    video_url = serve(sources, mp4())
    for method, path, kwargs in (
        ("POST", f"{missing}/video", {"json": {"url": video_url}}),
        ("POST", f"{missing}/gallery/video", {"json": {"url": video_url}}),
        ("DELETE", f"{missing}/video", {}),
        ("GET", f"{missing}/gallery/video/1", {}),
        ("PUT", f"{missing}/gallery/video/1", {"content": jpeg(10, 10)}),
    ):
        response = api.request(method, path, **kwargs)
        assert (response.status_code, response.json()["errorCode"]) == (404, "PRODUCT_NOT_FOUND")
    image = serve(sources, jpeg(30, 20), "a.jpg")
    put_media(api, product, {"galleryMedia": [{"imageUrl": image}]})
    image_id = get(api, product)["galleryImages"][0]["id"]
    for video_id in (image_id, 999999999):
        for method, kwargs in (("GET", {}), ("PUT", {"content": jpeg(10, 10)})):
            response = api.request(method, f"{product}/gallery/video/{video_id}", **kwargs)
            assert (response.status_code, response.json()["errorCode"]) == (
                404,
                "VIDEO_NOT_FOUND",
            )
    assert sources.hits(urlpath(video_url)) == 0


def urlpath(url: str) -> str:
    return httpx.URL(url).path


def test_delete_main_video(api: httpx.Client, product: str, sources: SourceServer) -> None:
    image = serve(sources, jpeg(30, 20), "a.jpg")
    put_media(
        api,
        product,
        {
            # A video of this test's own: no other product holds its files.
            "mainMedia": {"imageUrl": image, "videoUrl": serve(sources, mp4(seconds=2.5))},
            "galleryMedia": [{"videoUrl": serve(sources, webm())}],
        },
    )
    before = get(api, product)
    deleted = api.delete(f"{product}/video")
    assert (deleted.status_code, deleted.json()) == (200, {"deleteCount": 1})
    after = get(api, product)
    assert after["media"]["images"] == before["media"]["images"]
    assert after["media"]["videos"] == [{**before["media"]["videos"][1]}]
    gone = fetch(before["media"]["videos"][0]["url"])
    assert gone.status_code == 404
    again = api.delete(f"{product}/video")
    assert (again.status_code, again.json()) == (200, {"deleteCount": 0})


def test_replace_a_gallery_video_cover(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    # A video of this test's own: no other product holds its files.
    own = mp4(seconds=3.5)
    added = api.post(f"{product}/gallery/video", json={"url": serve(sources, own)})
    video_id = added.json()["id"]
    path = f"{product}/gallery/video/{video_id}"
    first = previous = get(api, path)
    cover = jpeg(200, 150)
    for content_type in ("image/jpeg", "application/octet-stream"):
        response = api.put(path, content=cover, headers={"Content-Type": content_type})
        assert response.status_code == 200, response.text
        cover_id = response.json()["id"]
        now = get(api, path)
        # A new cover has a new id: ids are never given twice.
        assert now["videoCoverId"] == cover_id != previous["videoCoverId"]
        assert fetch(now["imageOriginalUrl"]).content == cover
        assert size_of(now["image160pxUrl"]) == (160, 120)
        assert (now["id"], now["url"]) == (video_id, first["url"])
        previous = now
    # The frame the cover replaced is gone.
    assert fetch(first["imageOriginalUrl"]).status_code == 404
    from_url = serve(sources, jpeg(90, 60), "c.jpg")
    response = api.put(path, params={"externalUrl": from_url}, content=png(5, 5))
    assert response.status_code == 200, response.text
    assert get(api, path)["videoCoverId"] == response.json()["id"]
    assert size_of(get(api, path)["imageOriginalUrl"]) == (90, 60)


@pytest.mark.parametrize(
    ("params", "content", "headers", "status", "code"),
    [
        ({}, png(20, 20), {"Content-Type": "image/png"}, 422, "INVALID_IMAGE"),
        ({}, html(), {"Content-Type": "application/octet-stream"}, 422, "INVALID_IMAGE"),
        ({}, b"", {"Content-Type": "image/jpeg"}, 400, "WRONG_PARAMETER"),
        ({}, b'{"url": "x"}', {"Content-Type": "application/json"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({"externalUrl": "nope"}, b"", {}, 422, "WRONG_URL"),
        ({"externalUrl": "MISSING"}, b"", {}, 422, "DOWNLOAD_IMAGE_FAILED"),
        ({"externalUrl": "PAGE"}, b"", {}, 422, "DOWNLOAD_IMAGE_FAILED"),
    ],
)
def test_covers_refused(
    api: httpx.Client,
    product: str,
    sources: SourceServer,
    params: dict[str, str],
    content: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    added = api.post(f"{product}/gallery/video", json={"url": serve(sources, mp4())})
    path = f"{product}/gallery/video/{added.json()['id']}"
    before = get(api, path)
    if params.get("externalUrl") == "MISSING":
        params = {"externalUrl": sources.url(f"/gone/{uuid.uuid4()}.jpg")}
    elif params.get("externalUrl") == "PAGE":
        params = {"externalUrl": serve(sources, html(), "page.jpg")}
    response = api.put(path, params=params, content=content, headers=headers)
    assert (response.status_code, response.json()["errorCode"]) == (status, code), response.text
    assert get(api, path) == before


def test_scopes(videos: InProcessService, store: tuple[int, str], product: str) -> None:
    reader = videos.new_token(store[0], scopes="read_catalog")
    with videos.client(reader) as client:
        for method, path, kwargs in (
            ("POST", f"{product}/video", {"json": {"url": "https://youtu.be/dQw4w9WgXcQ"}}),
            ("POST", f"{product}/gallery/video", {"json": {"url": "https://youtu.be/x"}}),
            ("DELETE", f"{product}/video", {}),
            ("PUT", f"{product}/gallery/video/1", {"content": jpeg(10, 10)}),
        ):
            response = client.request(method, path, **kwargs)
            assert (response.status_code, response.json()["errorCode"]) == (
                403,
                "INSUFFICIENT_APP_SCOPE",
            )
        assert client.get(f"{product}/gallery/video/1").json()["errorCode"] == "VIDEO_NOT_FOUND"


def test_a_gallery_video_is_deleted_by_its_id(
    api: httpx.Client, product: str, sources: SourceServer
) -> None:
    """DELETE .../gallery/{id} names one item, image or video: ids come from one sequence."""
    image = serve(sources, jpeg(30, 20), "a.jpg")
    put_media(api, product, {"galleryMedia": [{"imageUrl": image}]})
    own = webm(seconds=2.5)
    video_id = api.post(f"{product}/gallery/video", json={"url": serve(sources, own)}).json()["id"]
    shown = get(api, f"{product}/gallery/video/{video_id}")
    assert get(api, product)["galleryImages"][0]["id"] != video_id
    deleted = api.delete(f"{product}/gallery/{video_id}")
    assert (deleted.status_code, deleted.json()) == (200, {"deleteCount": 1})
    assert api.get(f"{product}/gallery/video/{video_id}").status_code == 404
    assert fetch(shown["url"]).status_code == 404
    assert len(get(api, product)["galleryImages"]) == 1


def test_a_public_token_sees_videos_of_enabled_products_only(
    videos: InProcessService,
    store: tuple[int, str],
    api: httpx.Client,
    product: str,
    sources: SourceServer,
) -> None:
    video_id = api.post(f"{product}/gallery/video", json={"url": serve(sources, mp4())}).json()[
        "id"
    ]
    with videos.client(videos.new_token(store[0], public=True)) as public:
        assert public.get(f"{product}/gallery/video/{video_id}").status_code == 200
        assert api.put(product, json={"enabled": False}).status_code == 200
        hidden = public.get(f"{product}/gallery/video/{video_id}")
        assert (hidden.status_code, hidden.json()["errorCode"]) == (404, "PRODUCT_NOT_FOUND")
    assert api.get(f"{product}/gallery/video/{video_id}").status_code == 200
