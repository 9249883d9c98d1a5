"""The ingest pipeline on its own: outcomes per source, blobs handed over, bounded work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio

from product_media.domain.media import Blob, ImageFiles
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    NOT_VIDEO_URL,
    Failure,
    Ingested,
    Outcome,
)
from product_media.domain.source_validators import Remembered, Validators
from product_media.ingest.address_policy import AddressPolicy, parse_networks
from product_media.ingest.fetcher import Fetcher, FetchLimits
from product_media.ingest.pipeline import IngestLimits, Pipeline, original_key, safe_url
from tests.fakes import FakeFetcher, fake_pipeline
from tests.media_factory import jpeg, png
from tests.source_server import SourceServer


def _run(*requests: list[tuple[str, str]], concurrency: int = 4, in_flight: int = 8):
    """Runs each request's sources through one shared pipeline, all requests at once, each
    for a store of its own."""
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
            max_per_store=in_flight,
        )
        pipeline = Pipeline(fetcher, anyio.CapacityLimiter(2), limits)
        try:
            return await asyncio.gather(
                *(
                    pipeline.run(sources, put, tenant=(store, "t"), time_limit=60)
                    for store, sources in enumerate(requests, 1)
                )
            )
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
    assert video.message == f"{photo}: an image (image/jpeg), not a video"
    assert video.category == NOT_VIDEO_URL
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


# -- the deadline and fair shares, on a fake fetcher ------------------------------------------


async def _never() -> None:
    await anyio.sleep_forever()


async def _keep(contents: dict[str, bytes]) -> None:
    pass


def _late(url: str, seconds: float) -> Failure:
    return Failure(
        DOWNLOAD_IMAGE_FAILED, f"{url}: not done within the media update's {seconds:g} s limit"
    )


def test_a_source_not_done_by_the_deadline_fails_and_the_others_are_kept() -> None:
    fetcher = FakeFetcher()
    good = "https://shop.example/good.jpg"
    stuck = "https://shop.example/stuck.jpg"
    fetcher.files[good] = jpeg(60, 40)
    fetcher.hooks[stuck] = _never
    pipeline = fake_pipeline(fetcher, concurrency=4, in_flight=4)

    async def main() -> tuple[dict[tuple[str, str], Outcome], float]:
        started = time.monotonic()
        outcomes = await pipeline.run(
            [("image", good), ("image", stuck)], _keep, tenant=(1, "t"), time_limit=0.5
        )
        return outcomes, time.monotonic() - started

    outcomes, elapsed = anyio.run(main)
    assert isinstance(outcomes[("image", good)], Ingested)
    assert outcomes[("image", stuck)] == _late(stuck, 0.5)
    assert elapsed < 2.5, "five times the deadline"


def test_waiting_for_a_slot_counts_against_the_deadline() -> None:
    fetcher = FakeFetcher()
    first, second = "https://shop.example/a.jpg", "https://shop.example/b.jpg"
    fetcher.hooks[first] = _never
    fetcher.files[second] = jpeg(60, 40)
    # One slot, taken by the first source (sources start in sorted order) for good.
    pipeline = fake_pipeline(fetcher, concurrency=4, in_flight=1)
    outcomes = anyio.run(
        lambda: pipeline.run(
            [("image", first), ("image", second)], _keep, tenant=(1, "t"), time_limit=0.3
        )
    )
    assert outcomes == {("image", first): _late(first, 0.3), ("image", second): _late(second, 0.3)}
    assert fetcher.fetched == [first]


def test_one_store_saturating_the_sources_does_not_delay_another() -> None:
    """Store 1 queues forty sources that never finish, from two tokens; store 2's one
    source is fetched at once."""
    fetcher = FakeFetcher()
    stuck = [f"https://abuser.example/{i}.jpg" for i in range(40)]
    for url in stuck:
        fetcher.hooks[url] = _never
    wanted = "https://shop.example/one.jpg"
    fetcher.files[wanted] = jpeg(60, 40)
    pipeline = fake_pipeline(fetcher, concurrency=40, in_flight=8, per_store=4)

    async def main() -> float:
        async with anyio.create_task_group() as tasks:
            for token, half in (("t1", stuck[:20]), ("t2", stuck[20:])):
                sources = [("image", url) for url in half]
                run = partial(pipeline.run, sources, _keep, tenant=(1, token), time_limit=600)
                tasks.start_soon(run)
            await anyio.wait_all_tasks_blocked()
            assert len(fetcher.fetched) == 4, "store 1 holds its share, no more"
            started = time.monotonic()
            with anyio.fail_after(10):
                outcomes = await pipeline.run(
                    [("image", wanted)], _keep, tenant=(2, "t"), time_limit=600
                )
            elapsed = time.monotonic() - started
            assert isinstance(outcomes[("image", wanted)], Ingested)
            tasks.cancel_scope.cancel()
        return elapsed

    # "At once": the bound is generous for a busy machine; the work itself takes milliseconds.
    assert anyio.run(main) < 2


@dataclass
class Memory:
    """What a store remembers of its sources and holds of their files (the SourceMemory port;
    the catalog's own is tested on both databases in test_storage.py)."""

    remembered: dict[str, Remembered] = field(default_factory=dict)
    originals: dict[str, ImageFiles] = field(default_factory=dict)
    learned: dict[str, tuple[Validators, str]] = field(default_factory=dict)

    def recall(self, store_id: int, urls: Collection[str]) -> dict[str, Remembered]:
        return {url: self.remembered[url] for url in urls if url in self.remembered}

    def files_of(self, store_id: int, original_key: str) -> ImageFiles | None:
        return self.originals.get(original_key)

    def remember(self, store_id: int, sources: Mapping[str, tuple[Validators, str]]) -> None:
        self.learned.update(sources)


def _resync(memory: Memory, sources: list[tuple[str, str]], *, in_use: bool) -> dict[Any, Any]:
    """Runs `sources` with `memory`; `in_use` is what keeping stored files answers."""

    async def put(contents: Mapping[str, bytes]) -> None:
        pass

    async def keep(keys: Collection[str]) -> bool:
        return in_use

    async def main() -> dict[Any, Any]:
        fetcher = Fetcher(AddressPolicy(parse_networks("127.0.0.1/32")))
        limits = IngestLimits(
            image_fetch=FetchLimits(max_bytes=5_000_000, connect_timeout=2, total_timeout=10),
            max_pixels=100_000_000,
            concurrency=2,
            max_in_flight=4,
            decode_memory=2**30,
            max_per_store=4,
        )
        pipeline = Pipeline(fetcher, anyio.CapacityLimiter(2), limits, memory=memory)
        try:
            return await pipeline.run(sources, put, tenant=(1, "t"), time_limit=60, keep=keep)
        finally:
            await fetcher.aclose()

    return asyncio.run(main())


def test_a_304_for_files_no_longer_in_use_fetches_the_source_anew() -> None:
    old = ImageFiles(Blob("0" * 64 + ".jpg", "image/jpeg"), 300, 200, {}, None)
    with SourceServer() as source:
        url = source.add("/a.jpg", jpeg(300, 200), headers={"ETag": '"a"'}, not_modified_for='"a"')
        memory = Memory(remembered={url: Remembered(Validators('"a"', None), old)})

        kept = _resync(memory, [("image", url)], in_use=True)
        assert kept[("image", url)] == Ingested(old)
        assert source.hits("/a.jpg") == 1

        # The files went between the recall and the 304: the source is fetched and processed.
        fresh = _resync(memory, [("image", url)], in_use=False)
        outcome = fresh[("image", url)]
        assert isinstance(outcome, Ingested) and outcome.files != old
        assert source.hits("/a.jpg") == 3
        assert memory.learned == {url: (Validators('"a"', None), outcome.files.original.key)}


def test_bytes_of_an_original_in_use_reuse_its_files_only_while_in_use() -> None:
    body = jpeg(320, 240)
    with SourceServer() as source:
        url = source.add("/b.jpg", body)
        key = original_key(body)
        assert key is not None
        held = ImageFiles(Blob(key, "image/jpeg"), 320, 240, {}, None)
        memory = Memory(originals={key: held})

        assert _resync(memory, [("image", url)], in_use=True)[("image", url)] == Ingested(held)
        processed = _resync(memory, [("image", url)], in_use=False)[("image", url)]
        assert isinstance(processed, Ingested) and processed.files != held
        assert processed.files.original == held.original
        assert memory.learned == {}, "no validators, nothing to remember"
