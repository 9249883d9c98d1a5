"""Re-syncs: an unchanged source (a 304 to its validators) or bytes the store already has reuse
the files they made, with no download or no decode; anything else is fetched and processed
anew, and nothing is reused across stores or from files that are gone. On both backends.

Which way a source went is read from the pipeline's log lines for its URL (other tests' async
jobs run on the same service, so its counters are not this test's alone): a source is decoded
unless one of them says its files were reused."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests import media_factory as mf
from tests.inprocess import InProcessService
from tests.source_server import SourceServer

LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"


UNCHANGED = "unchanged: its files reused"
SAME_BYTES = "its bytes are stored already, files reused"


@pytest.fixture
def reuse_lines(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="product_media.ingest.pipeline"):
        yield caplog


def reused(caplog: pytest.LogCaptureFixture, url: str) -> list[str]:
    """How the pipeline reused `url`'s files, one entry a time: UNCHANGED or SAME_BYTES."""
    return [
        kind
        for record in caplog.records
        if record.name == "product_media.ingest.pipeline" and url in record.getMessage()
        for kind in (UNCHANGED, SAME_BYTES)
        if kind in record.getMessage()
    ]


def photo(seed: int) -> bytes:
    """A JPEG no other test serves (quality and size vary with the seed)."""
    return mf.jpeg(300 + seed % 97, 200 + seed % 89, quality=60 + seed % 35)


def tagged(sources: SourceServer, body: bytes, etag: str, path: str | None = None) -> str:
    """`body` under `path` (default: a new one), with an ETag and Last-Modified; a 304 to a
    request for its own ETag. Returns the path."""
    path = path or f"/resync/{uuid.uuid4().hex}.jpg"
    sources.add(
        path,
        body,
        headers={"ETag": etag, "Last-Modified": LAST_MODIFIED},
        not_modified_for=etag,
    )
    return path


def put_main(api: httpx.Client, product: str, url: str) -> dict[str, object]:
    response = api.put(f"{product}/media", json={"mainMedia": {"imageUrl": url}})
    assert response.status_code == 200, response.text
    assert response.json()["mainMedia"]["success"], response.text
    image: dict[str, object] = api.get(product).json()["media"]["images"][0]
    return image


def new_product(api: httpx.Client, store_path: str) -> str:
    response = api.post(f"{store_path}/products", json={"name": "Again"})
    assert response.status_code == 200, response.text
    return f"{store_path}/products/{response.json()['id']}"


def files(image: dict[str, object]) -> list[object]:
    names = ("imageOriginalUrl", "image160pxUrl", "image400pxUrl", "image800pxUrl")
    return [image[name] for name in (*names, "image1500pxUrl")]


def test_a_304_reuses_the_files_with_no_download_and_no_decode(
    reuse_lines: pytest.LogCaptureFixture,
    api: httpx.Client,
    sources: SourceServer,
    store_path: str,
    product: str,
) -> None:
    path = tagged(sources, photo(1), '"one"')
    url = sources.url(path)
    first = put_main(api, product, url)
    assert reused(reuse_lines, url) == []

    again = put_main(api, new_product(api, store_path), url)

    headers = sources.last_headers(path)
    assert headers["If-None-Match"] == '"one"'
    assert headers["If-Modified-Since"] == LAST_MODIFIED
    # One request more, answered 304 (no body), and the files of the first fetch.
    assert sources.hits(path) == 2
    assert reused(reuse_lines, url) == [UNCHANGED]
    assert files(again) == files(first)
    assert api.get(str(again["image1500pxUrl"])).status_code == 200


def test_a_changed_source_is_fetched_and_processed_again(
    reuse_lines: pytest.LogCaptureFixture,
    api: httpx.Client,
    sources: SourceServer,
    product: str,
) -> None:
    old, new = photo(2), photo(3)
    path = tagged(sources, old, '"v1"')
    url = sources.url(path)
    first = put_main(api, product, url)
    tagged(sources, new, '"v2"', path)

    again = put_main(api, product, url)

    # The conditional request got the new body's headers, and then the new body.
    assert sources.hits(path) == 3
    assert reused(reuse_lines, url) == []
    assert files(again) != files(first)
    assert api.get(str(again["imageOriginalUrl"])).content == new


def test_the_same_bytes_at_a_new_url_reuse_the_files_without_a_decode(
    reuse_lines: pytest.LogCaptureFixture,
    api: httpx.Client,
    sources: SourceServer,
    store_path: str,
    product: str,
) -> None:
    body = photo(4)
    first = put_main(api, product, sources.add(f"/resync/{uuid.uuid4().hex}.jpg", body))

    moved = sources.add(f"/resync/{uuid.uuid4().hex}.jpg", body)
    again = put_main(api, new_product(api, store_path), moved)

    assert reused(reuse_lines, moved) == [SAME_BYTES]
    assert files(again) == files(first)


def test_nothing_is_reused_across_stores(
    reuse_lines: pytest.LogCaptureFixture,
    service: InProcessService,
    api: httpx.Client,
    sources: SourceServer,
    product: str,
) -> None:
    body = photo(5)
    path = tagged(sources, body, '"shared"')
    url = sources.url(path)
    put_main(api, product, url)

    other_store, other_token = service.new_store()
    with service.client(other_token) as other:
        other_product = new_product(other, f"/api/v3/{other_store}")
        image = put_main(other, other_product, url)
        assert other.get(str(image["imageOriginalUrl"])).content == body

    # The other store never fetched this source: its request is not conditional, and the
    # bytes are downloaded and processed although the first store has their files.
    assert "If-None-Match" not in sources.last_headers(path)
    assert reused(reuse_lines, url) == []


def test_files_that_were_deleted_are_never_reused(
    reuse_lines: pytest.LogCaptureFixture,
    api: httpx.Client,
    sources: SourceServer,
    store_path: str,
    product: str,
) -> None:
    body = photo(6)
    path = tagged(sources, body, '"gone"')
    url = sources.url(path)
    first = put_main(api, product, url)
    assert api.delete(product).json() == {"deleteCount": 1}
    assert api.get(str(first["imageOriginalUrl"])).status_code == 404

    image = put_main(api, new_product(api, store_path), url)

    # The store remembers the source, but no image of it holds those files any more.
    assert "If-None-Match" not in sources.last_headers(path)
    assert reused(reuse_lines, url) == []
    for file_url in files(image):
        assert api.get(str(file_url)).status_code == 200


def test_a_source_without_validators_is_fetched_in_full(
    reuse_lines: pytest.LogCaptureFixture,
    api: httpx.Client,
    sources: SourceServer,
    product: str,
) -> None:
    body = photo(7)
    path = f"/resync/{uuid.uuid4().hex}.jpg"
    url = sources.add(path, body)
    put_main(api, product, url)

    put_main(api, product, url)

    assert "If-None-Match" not in sources.last_headers(path)
    assert "If-Modified-Since" not in sources.last_headers(path)
    # Downloaded again, but the bytes are the store's already: no decode.
    assert sources.hits(path) == 2
    assert reused(reuse_lines, url) == [SAME_BYTES]
