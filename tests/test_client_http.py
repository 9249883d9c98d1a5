"""The client SDK against the real app in process: every endpoint, typed answers, errors
with their status and code, and retries that never repeat work."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import anyio
import httpx
import pytest

from product_media.client import (
    ApiError,
    ConnectionFailed,
    EcwidClient,
    MediaSource,
    MediaUpdate,
    NewProduct,
    RetryPolicy,
    UnexpectedAnswer,
)
from tests.inprocess import InProcessService
from tests.media_factory import jpeg
from tests.sdk import QUICK, AsyncRouter, Flaky, async_client, image_url, missing_url, sync_client
from tests.service import free_port
from tests.source_server import SourceServer

YOUTUBE = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"


def sku() -> str:
    return f"SDK-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(service: InProcessService, store: tuple[int, str]) -> Iterator[EcwidClient]:
    with sync_client(service, store) as client:
        yield client


def test_products(client: EcwidClient) -> None:
    code = sku()
    created = client.create_product(NewProduct(name="Shirt", sku=code, price=19.5))
    product = client.get_product(created.id)
    assert (product.id, product.name, product.sku, product.price) == (
        created.id,
        "Shirt",
        code,
        19.5,
    )
    assert product.media.images == [] and product.galleryImages == []
    assert [p.id for p in client.search_products(sku=code).items] == [created.id]
    page = client.search_products(keyword=code[4:], limit=5)
    assert (page.total, page.count, page.limit, [p.id for p in page.items]) == (
        1,
        1,
        5,
        [created.id],
    )
    assert client.search_products(sku=code + "-no").items == []
    assert client.delete_product(created.id).deleteCount == 1
    with pytest.raises(ApiError) as raised:
        client.get_product(created.id)
    assert (raised.value.status, raised.value.error_code) == (404, "PRODUCT_NOT_FOUND")


def test_media_update_and_its_results(client: EcwidClient, sources: SourceServer) -> None:
    product_id = client.create_product(NewProduct(name="Shirt", sku=sku())).id
    main, good, bad = image_url(sources), image_url(sources, 30, 20), missing_url(sources)
    update = MediaUpdate(
        mainMedia=MediaSource(imageUrl=main),
        galleryMedia=[MediaSource(imageUrl=good), MediaSource(imageUrl=bad)],
    )
    result = client.update_media(product_id, update)
    assert result.mainMedia is not None and result.mainMedia.success
    ok, failed = result.galleryMedia
    assert (ok.success, ok.id) == (True, "1")
    assert (failed.success, failed.errorCode) == (False, "DOWNLOAD_IMAGE_FAILED")
    assert failed.errorMessage is not None and bad in failed.errorMessage
    product = client.get_product(product_id)
    image = product.main_image()
    assert image is not None and image.imageOriginalUrl and product.originalImage is not None
    assert (product.originalImage.width, product.originalImage.height) == (60, 40)
    assert [(g.width, g.height) for g in product.galleryImages] == [(30, 20)]
    # No gallery: the API's rule clears it; no main media: the main image stays.
    client.update_media(product_id, MediaUpdate())
    after = client.get_product(product_id)
    assert after.galleryImages == [] and after.main_image() == image


def test_single_image_endpoints(client: EcwidClient, sources: SourceServer) -> None:
    product_id = client.create_product(NewProduct(name="Shirt", sku=sku())).id
    main = client.upload_main_image(product_id, jpeg(50, 50), content_type="image/jpeg")
    first = client.upload_gallery_image(product_id, external_url=image_url(sources))
    second = client.upload_gallery_image(product_id, jpeg(20, 10), file_name="b.jpg")
    product = client.get_product(product_id)
    assert product.originalImage is not None and product.originalImage.width == 50
    assert [g.id for g in product.galleryImages] == [first.id, second.id]
    assert main.id not in (first.id, second.id)
    assert client.delete_gallery_item(product_id, first.id).deleteCount == 1
    assert client.delete_gallery_item(product_id, first.id).deleteCount == 0
    assert client.delete_gallery_images(product_id).deleteCount == 1
    assert client.delete_main_image(product_id).deleteCount == 1
    assert client.get_product(product_id).main_image() is None
    with pytest.raises(ApiError) as raised:
        client.upload_main_image(product_id, b"not an image")
    assert (raised.value.status, raised.value.error_code) == (422, "INVALID_IMAGE")
    with pytest.raises(ApiError) as raised:
        client.upload_gallery_image(product_id, external_url="ftp://example.com/a.jpg")
    assert (raised.value.status, raised.value.error_code) == (422, "WRONG_URL")


def test_video_endpoints(client: EcwidClient, sources: SourceServer) -> None:
    """A YouTube link is a video by its shape; its oEmbed (a port nothing listens on here)
    fails, so it comes without title or cover."""
    product_id = client.create_product(NewProduct(name="Shirt", sku=sku())).id
    client.upload_main_video(product_id, YOUTUBE)
    added = client.upload_gallery_video(product_id, YOUTUBE)
    product = client.get_product(product_id)
    main = product.main_video()
    assert main is not None and main.url == YOUTUBE and main.providerName == "YouTube"
    assert [item.id for item in product.gallery()] == ["1"]
    video = client.get_gallery_video(product_id, added.id)
    assert (video.id, video.url, video.imageOriginalUrl) == (added.id, YOUTUBE, None)
    cover = client.upload_gallery_video_cover(product_id, added.id, external_url=image_url(sources))
    covered = client.get_gallery_video(product_id, added.id)
    assert covered.videoCoverId == cover.id and covered.imageOriginalUrl
    assert client.delete_main_video(product_id).deleteCount == 1
    assert client.delete_gallery_item(product_id, added.id).deleteCount == 1
    assert client.get_product(product_id).media.videos == []
    with pytest.raises(ApiError) as raised:
        client.get_gallery_video(product_id, added.id)
    assert (raised.value.status, raised.value.error_code) == (404, "VIDEO_NOT_FOUND")


def test_refusals_carry_status_code_and_message(
    service: InProcessService, store: tuple[int, str]
) -> None:
    with (
        sync_client(service, (store[0], "secret_wrong")) as stranger,
        pytest.raises(ApiError) as raised,
    ):
        stranger.get_product(1)
    assert (raised.value.status, raised.value.error_code) == (403, "INVALID_API_TOKEN")
    assert raised.value.error_message
    with sync_client(service, store) as client:
        product_id = client.create_product(NewProduct(name="Shirt", sku=sku())).id
        with pytest.raises(ApiError) as raised:
            client.update_media(product_id, MediaUpdate(mainMedia=MediaSource(imageUrl="x:y")))
    assert (raised.value.status, raised.value.error_code) == (422, "WRONG_URL")
    assert "mainMedia.imageUrl" in raised.value.error_message


def test_connection_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECWID_BASE_URL", "http://127.0.0.1:9/api/v3/")
    monkeypatch.setenv("ECWID_STORE_ID", "42")
    monkeypatch.setenv("ECWID_TOKEN", "secret_x")
    with EcwidClient() as client:
        assert (client.base_url, client.store_id) == ("http://127.0.0.1:9/api/v3", 42)
    monkeypatch.delenv("ECWID_TOKEN")
    with pytest.raises(ValueError, match="ECWID_TOKEN"):
        EcwidClient()
    monkeypatch.delenv("ECWID_BASE_URL")
    with EcwidClient(token="t") as client:
        assert client.base_url == "https://app.ecwid.com/api/v3"
    with pytest.raises(ValueError, match="store id must be a number"):
        EcwidClient(store_id="shop", token="t")


def test_the_async_client(
    service: InProcessService, store: tuple[int, str], sources: SourceServer
) -> None:
    async def scenario() -> None:
        async with async_client(service, store) as client:
            code = sku()
            product_id = (await client.create_product(NewProduct(name="Cap", sku=code))).id
            found = await client.search_products(sku=code)
            assert [p.id for p in found.items] == [product_id]
            update = MediaUpdate(galleryMedia=[MediaSource(imageUrl=image_url(sources))])
            result = await client.update_media(product_id, update)
            assert [r.success for r in result.galleryMedia] == [True]
            assert len((await client.get_product(product_id)).galleryImages) == 1
            await client.delete_product(product_id)
            with pytest.raises(ApiError) as raised:
                await client.get_product(product_id)
            assert raised.value.status == 404

    anyio.run(scenario)


def test_429_waits_what_retry_after_says(service: InProcessService, store: tuple[int, str]) -> None:
    """A stand-in answers 429 twice (as a rate-limited server would) before the service."""
    flaky = Flaky(AsyncRouter(), 429, times=2, headers={"Retry-After": "3"})
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def scenario() -> None:
        async with async_client(service, store, flaky, sleep=sleep) as client:
            # Even a call that is not safe to repeat: a 429 did nothing.
            await client.create_product(NewProduct(name="Cap", sku=sku()))

    anyio.run(scenario)
    assert waits == [3.0, 3.0]
    assert flaky.refused == flaky.passed * 2 == [f"POST /api/v3/{store[0]}/products"] * 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_repeats_only_what_is_safe_to_repeat(
    service: InProcessService, store: tuple[int, str], status: int
) -> None:
    """A stand-in answers `status` to the first two requests, then lets them through."""
    with sync_client(service, store) as setup:
        product_id = setup.create_product(NewProduct(name="Cap", sku=sku())).id

    async def scenario() -> None:
        flaky = Flaky(AsyncRouter(), status, times=2)
        async with async_client(service, store, flaky, retry=QUICK) as client:
            assert (await client.get_product(product_id)).id == product_id
            assert len(flaky.refused) == 2
            flaky.left = 2
            with pytest.raises(ApiError) as raised:
                await client.create_product(NewProduct(name="Cap", sku=sku()))
            assert (raised.value.status, raised.value.error_code) == (status, "STAND_IN_DOWN")
            assert len(flaky.refused) == 3
            flaky.left = 10
            with pytest.raises(ApiError) as raised:
                await client.update_media(product_id, MediaUpdate())
            # Bounded: four tries in all, then the last answer is raised.
            assert raised.value.status == status and len(flaky.refused) == 7

    anyio.run(scenario)


@pytest.fixture
def hang_up() -> Iterator[tuple[str, list[bytes]]]:
    """A real server on a loopback port that reads each request and closes the connection
    without an answer: the request may have done its work, the client cannot know."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    requests: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                requests.append(data.split(b"\r\n", 1)[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v3", requests
    stop.set()
    thread.join()
    listener.close()


def test_a_lost_answer_is_retried_only_when_safe(hang_up: tuple[str, list[bytes]]) -> None:
    base, requests = hang_up
    with EcwidClient(base, 1, "secret_x", retry=QUICK) as client:
        with pytest.raises(ConnectionFailed):
            client.get_product(5)
        assert requests == [b"GET /api/v3/1/products/5 HTTP/1.1"] * 4
        requests.clear()
        with pytest.raises(ConnectionFailed):
            client.create_product(NewProduct(name="Cap"))
        assert requests == [b"POST /api/v3/1/products HTTP/1.1"]
        requests.clear()
        with pytest.raises(ConnectionFailed):
            client.upload_gallery_video(5, YOUTUBE)
        assert len(requests) == 1


def test_a_refused_connection_is_retried_for_every_call() -> None:
    """Nothing listens on the port: no call reached a server, so even a POST tries again."""
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff=0.5, max_backoff=8)
    base = f"http://127.0.0.1:{free_port()}/api/v3"
    with (
        EcwidClient(
            base, 1, "secret_x", retry=policy, sleep=waits.append, random_fraction=lambda: 0.0
        ) as client,
        pytest.raises(ConnectionFailed),
    ):
        client.create_product(NewProduct(name="Cap"))
    assert waits == [0.25, 0.5]


def test_requests_carry_bearer_auth_and_timeouts() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 7, "name": "Cap"})

    # Ecwid itself cannot be reached from tests: a mock transport records the request.
    with EcwidClient(
        "https://app.ecwid.com/api/v3", 3, "secret_t", transport=httpx.MockTransport(answer)
    ) as client:
        assert client.get_product(7).id == 7
    (request,) = seen
    assert str(request.url) == "https://app.ecwid.com/api/v3/3/products/7"
    assert request.headers["Authorization"] == "Bearer secret_t"
    assert "token" not in request.url.params
    assert request.extensions["timeout"] == {
        "connect": 30.0,
        "read": 450.0,
        "write": 30.0,
        "pool": 30.0,
    }


def test_an_answer_that_is_not_the_api_s(sources: SourceServer) -> None:
    """A source server plays a web site where the API was expected."""
    prefix = f"/not-api/{uuid.uuid4().hex}"
    sources.add(
        f"{prefix}/1/products/5", b"<html>hello</html>", headers={"Content-Type": "text/html"}
    )
    sources.add(f"{prefix}/1/products/6", b'{"name": "no id"}')
    with EcwidClient(sources.url(prefix), 1, "secret_x", retry=QUICK) as client:
        for product_id in (5, 6):
            with pytest.raises(UnexpectedAnswer) as raised:
                client.get_product(product_id)
            assert (raised.value.status, raised.value.error_code) == (200, "UNEXPECTED_ANSWER")
