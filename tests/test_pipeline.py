"""The ingest pipeline on its own: outcomes per source, blobs handed over, bounded work."""

from __future__ import annotations

import asyncio
import time

import anyio

from product_media.domain.media import ImageFiles
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    Failure,
    Ingested,
)
from product_media.ingest.address_policy import AddressPolicy, parse_networks
from product_media.ingest.fetcher import Fetcher, FetchLimits
from product_media.ingest.pipeline import IngestLimits, Pipeline, safe_url
from tests.media_factory import jpeg, png
from tests.source_server import SourceServer


def _run(*requests: list[tuple[str, str]], concurrency: int = 4, in_flight: int = 8):
    """Runs each request's sources through one shared pipeline, all requests at once."""
    stored: dict[str, bytes] = {}

    async def put(contents: dict[str, bytes]) -> None:
        stored.update(contents)

    async def main():
        fetcher = Fetcher(AddressPolicy(parse_networks("127.0.0.1/32")))
        limits = IngestLimits(
            image_fetch=FetchLimits(max_bytes=5_000_000, connect_timeout=2, total_timeout=10),
            max_pixels=100_000_000,
            concurrency=concurrency,
            max_in_flight=in_flight,
            decode_memory=2**30,
        )
        pipeline = Pipeline(fetcher, anyio.CapacityLimiter(2), limits)
        try:
            return await asyncio.gather(*(pipeline.run(sources, put) for sources in requests))
        finally:
            await fetcher.aclose()

    return asyncio.run(main()), stored


def test_outcomes_and_blobs() -> None:
    with SourceServer() as source:
        photo = source.add("/a.jpg", jpeg(300, 200))
        logo = source.add("/b.png", png(50, 40, alpha=True))
        missing = source.url("/missing.jpg")
        (outcomes,), stored = _run(
            [("image", photo), ("image", logo), ("image", missing), ("video", photo)]
        )
    image = outcomes[("image", photo)]
    assert isinstance(image, Ingested) and isinstance(image.files, ImageFiles)
    assert (image.files.width, image.files.height) == (300, 200)
    assert image.files.original.content_type == "image/jpeg"
    assert {blob.content_type for blob in image.files.derived.values()} == {"image/jpeg"}
    alpha = outcomes[("image", logo)]
    assert isinstance(alpha, Ingested) and isinstance(alpha.files, ImageFiles)
    assert alpha.files.derived[160].content_type == "image/png"
    assert outcomes[("image", missing)] == Failure(
        DOWNLOAD_IMAGE_FAILED, f"{missing}: HTTP 404 from source"
    )
    video = outcomes[("video", photo)]
    assert isinstance(video, Failure) and video.code == DOWNLOAD_VIDEO_FAILED
    assert "not supported yet" in video.message
    for files in (image.files, alpha.files):
        assert all(blob.key in stored for blob in files.blobs())


def test_sources_in_flight_are_bounded_across_requests() -> None:
    with SourceServer(latency=0.3) as source:
        urls = [source.add(f"/{i}.jpg", jpeg(40 + i, 30)) for i in range(4)]
        started = time.monotonic()
        results, _ = _run(
            [("image", urls[0]), ("image", urls[1])],
            [("image", urls[2]), ("image", urls[3])],
            concurrency=2,
            in_flight=1,
        )
        elapsed = time.monotonic() - started
    assert all(isinstance(o, Ingested) for outcomes in results for o in outcomes.values())
    # One source at a time in both requests together: four responses of 0.3 s in a row.
    assert elapsed >= 1.2


def test_logged_urls_lose_their_query() -> None:
    assert safe_url("https://cdn.example/a.jpg?sig=secret&x=1") == "https://cdn.example/a.jpg"
