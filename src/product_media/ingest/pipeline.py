"""Fetch and process every source of one media update, concurrently and bounded."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import anyio

from product_media import metrics
from product_media.domain.blob_keys import blob_key
from product_media.domain.media import Blob, ImageFiles
from product_media.domain.plan import (
    DOWNLOAD_IMAGE_FAILED,
    DOWNLOAD_VIDEO_FAILED,
    VIDEO_UNAVAILABLE,
    Failure,
    Ingested,
    Outcome,
)
from product_media.domain.source_validators import Remembered, Validators
from product_media.domain.urls import without_secrets as safe_url
from product_media.ingest.fair_share import FairShare
from product_media.ingest.fetcher import Fetcher, FetchError, FetchLimits
from product_media.ingest.formats import sniff
from product_media.ingest.images import (
    ImageRejected,
    ProcessedImage,
    inspect_image,
    render_image,
)
from product_media.ingest.memory_budget import MemoryBudget
from product_media.ingest.scratch import Scratch
from product_media.ingest.video_files import VideoLimits
from product_media.ingest.video_sources import PutBlobs, VideoSourceLimits, VideoSources

log = logging.getLogger(__name__)

T = TypeVar("T")

MB = 1_000_000
# For pipelines built without video settings (tests): DESIGN section 2's limits.
DEFAULT_VIDEO_LIMITS = VideoSourceLimits(
    download=FetchLimits(max_bytes=500 * MB, connect_timeout=5, total_timeout=300),
    files=VideoLimits(max_seconds=600, max_side=4096),
    thumbnail=FetchLimits(max_bytes=20 * MB, connect_timeout=5, total_timeout=30),
)
# Who a source is fetched for: the store, and the token (hashed) that asked.
Tenant = tuple[int, str]
# Keeps stored blobs alive for the caller's commit, as PutBlobs does for new ones; False when
# some of them are no longer in use (they may be gone), and then nothing is kept.
KeepBlobs = Callable[[Collection[str]], Awaitable[bool]]
# Conditional requests of one update at once. They hold no body and no slot (a 304 has
# nothing to hold), so a re-sync of unchanged sources costs about one round trip.
REVALIDATIONS_PER_UPDATE = 32


class SourceMemory(Protocol):
    """Per store and source URL, what the source answered last time; and the files of the
    originals a store already has. Only a store's own images answer for it (the catalog)."""

    def recall(self, store_id: int, urls: Collection[str]) -> dict[str, Remembered]:
        """Of `urls`, those remembered for the store whose original an image of the store
        still has, with that image's files."""
        ...

    def files_of(self, store_id: int, original_key: str) -> ImageFiles | None:
        """The files of an image of the store whose original is `original_key`, if any."""
        ...

    def remember(self, store_id: int, sources: Mapping[str, tuple[Validators, str]]) -> None:
        """Record, for each url, its validators and the key of the original its bytes are."""
        ...


@dataclass(frozen=True)
class IngestLimits:
    image_fetch: FetchLimits
    max_pixels: int
    concurrency: int
    max_in_flight: int
    decode_memory: int
    # Of max_in_flight, the most one store may hold.
    max_per_store: int
    video: VideoSourceLimits = field(default=DEFAULT_VIDEO_LIMITS)


def original_key(data: bytes) -> str | None:
    """The blob key `data` has as an original, if its first bytes name a format."""
    found = sniff(data[:64])
    return None if found is None else blob_key(data, found.extension)


def _image_blobs(
    original: bytes, processed: ProcessedImage, known_key: str | None
) -> tuple[ImageFiles, dict[str, bytes]]:
    contents: dict[str, bytes] = {}

    def add(content: bytes, extension: str, mime: str, key: str | None = None) -> Blob:
        key = key or blob_key(content, extension)
        contents[key] = content
        return Blob(key, mime)

    fmt = processed.original_format
    files = ImageFiles(
        original=add(original, fmt.extension, fmt.mime, known_key),
        width=processed.width,
        height=processed.height,
        derived={
            size: add(enc.content, enc.format.extension, enc.format.mime)
            for size, enc in processed.derived.items()
        },
        border=processed.border,
    )
    return files, contents


class Pipeline:
    def __init__(
        self,
        fetcher: Fetcher,
        cpu: anyio.CapacityLimiter,
        limits: IngestLimits,
        scratch: Scratch | None = None,
        memory: SourceMemory | None = None,
    ) -> None:
        """`scratch` is where video downloads go (default: a folder in the system's
        temporary directory). With `memory`, images are fetched conditionally and an
        unchanged source, or bytes the store has already, reuse the files they made."""
        self._fetcher = fetcher
        self._memory = memory
        self._cpu = cpu
        self._limits = limits
        # Bounds the sources held in memory across all requests, whatever their number, and
        # shares that bound between stores, so one store's queue cannot delay another's.
        self._in_flight = FairShare(limits.max_in_flight, limits.max_per_store)
        # Bounds the pixels being decoded at once, whatever the number of workers.
        self._decode_memory = MemoryBudget(limits.decode_memory)
        if scratch is None:
            scratch = Scratch(Path(tempfile.gettempdir()) / "product-media", "0" * 32)
        self._videos = VideoSources(
            fetcher, cpu, self._decode_memory, scratch, limits.video, self._image_files
        )

    async def _image_files(
        self, data: bytes, busy: list[float] | None = None, key: str | None = None
    ) -> tuple[ImageFiles, dict[str, bytes]]:
        """Image bytes inspected and rendered under the decode budget: the image's files and
        the blobs to write; raises ImageRejected. `busy` adds up the seconds of work; `key` is
        the original's blob key when it is known already."""
        spent = busy if busy is not None else [0.0]

        def timed(work: Callable[[], T]) -> Callable[[], T]:
            def run() -> T:
                started = time.perf_counter()
                try:
                    return work()
                finally:
                    spent[0] += time.perf_counter() - started

            return run

        inspected = await anyio.to_thread.run_sync(
            timed(lambda: inspect_image(data, max_pixels=self._limits.max_pixels)),
            limiter=self._cpu,
        )
        async with self._decode_memory.hold(inspected.decode_bytes) as held:
            metrics.DECODE_BUDGET_BYTES_IN_USE.inc(held)
            try:
                processed = await anyio.to_thread.run_sync(
                    timed(lambda: render_image(data, inspected)), limiter=self._cpu
                )
            finally:
                metrics.DECODE_BUDGET_BYTES_IN_USE.dec(held)
        return _image_blobs(data, processed, key)

    async def _image(
        self, url: str, put: PutBlobs, uploaded: bytes | None, reuse: _Reuse | None
    ) -> Outcome:
        busy = [0.0]  # seconds of processing, waits for a worker or the budget excluded
        validators: Validators | None = None
        try:
            if uploaded is None:
                fetched = await self._fetcher.fetch(url, self._limits.image_fetch)
                data, validators = fetched.content, fetched.validators
                metrics.FETCHED_BYTES.inc(len(data))
            else:
                data = uploaded
            key = await anyio.to_thread.run_sync(original_key, data)
            stored = None if reuse is None or key is None else await reuse.stored(key)
            contents: dict[str, bytes] = {}
            if stored is not None:
                log.info(
                    "image source %s: its bytes are stored already, files reused", safe_url(url)
                )
                files = stored
            else:
                files, contents = await self._image_files(data, busy, key)
        except (FetchError, ImageRejected) as exc:
            log.info("image source %s refused: %s", safe_url(url), exc)
            return Failure(DOWNLOAD_IMAGE_FAILED, f"{url}: {exc}")
        finally:
            if busy[0]:
                metrics.PROCESSING_SECONDS.observe(busy[0])
        if contents:
            await put(contents)
        if reuse is not None and validators is not None:
            reuse.learned[url] = (validators, files.original.key)
        return Ingested(files)

    async def _unchanged(self, url: str, reuse: _Reuse) -> Outcome | None:
        """The files an unchanged source made, when it answers 304 to a conditional request
        and they are still in use; None when it must be fetched."""
        known = reuse.remembered.get(url)
        if known is None:
            return None
        async with reuse.revalidating:
            fresh = await self._fetcher.unchanged(url, self._limits.image_fetch, known.validators)
        if not fresh or not await reuse.keep([blob.key for blob in known.files.blobs()]):
            return None
        log.info("image source %s unchanged: its files reused", safe_url(url))
        return Ingested(known.files)

    async def _one(
        self,
        kind: str,
        url: str,
        put: PutBlobs,
        gate: asyncio.Semaphore,
        tenant: Tenant,
        deadline: float,
        time_limit: float,
        uploaded: bytes | None,
        reuse: _Reuse | None,
    ) -> Outcome:
        if kind == "video":
            # A video file's download has a time limit of its own; the rest counts as usual.
            deadline += self._limits.video.download.total_timeout
        # Waiting for the gate or a slot counts against the deadline too.
        with anyio.CancelScope(deadline=deadline):
            return await self._source(kind, url, put, gate, tenant, uploaded, reuse)
        log.info("%s source %s not done within %g s", kind, safe_url(url), time_limit)
        if kind == "image":
            return Failure(
                DOWNLOAD_IMAGE_FAILED,
                f"{url}: not done within the media update's {time_limit:g} s limit",
            )
        limit = time_limit + self._limits.video.download.total_timeout
        return Failure(
            DOWNLOAD_VIDEO_FAILED,
            f"{url}: not done within the {limit:g} s a video may take",
            VIDEO_UNAVAILABLE,
        )

    async def _source(
        self,
        kind: str,
        url: str,
        put: PutBlobs,
        gate: asyncio.Semaphore,
        tenant: Tenant,
        uploaded: bytes | None,
        reuse: _Reuse | None,
    ) -> Outcome:
        # Outside the gate and the slot: a conditional request holds no body.
        if kind == "image" and uploaded is None and reuse is not None:
            try:
                unchanged = await self._unchanged(url, reuse)
            except Exception:
                # Reuse is an optimisation: the source is fetched and processed instead.
                log.exception("image source %s: reuse failed", safe_url(url))
                unchanged = None
            if unchanged is not None:
                return unchanged
        async with gate, self._in_flight.slot(*tenant):
            try:
                with metrics.SOURCES_IN_FLIGHT.track_inprogress():
                    if kind == "image":
                        return await self._image(url, put, uploaded, reuse)
                    return await self._videos.ingest(url, put)
            except Exception:
                log.exception("%s source %s failed unexpectedly", kind, safe_url(url))
                if kind == "image":
                    return Failure(DOWNLOAD_IMAGE_FAILED, f"{url}: could not be processed")
                return Failure(
                    DOWNLOAD_VIDEO_FAILED, f"{url}: could not be processed", VIDEO_UNAVAILABLE
                )

    async def run(
        self,
        sources: Iterable[tuple[str, str]],
        put: PutBlobs,
        *,
        tenant: Tenant,
        time_limit: float,
        uploads: Mapping[str, bytes] | None = None,
        keep: KeepBlobs | None = None,
    ) -> dict[tuple[str, str], Outcome]:
        """Ingest each (kind, url) once for `tenant`; every source gets an outcome, none raises.

        An image whose url is a key of `uploads` is those bytes, not fetched. A source not done
        `time_limit` seconds after the call fails; blobs it already put are the caller's, as
        any others its plan does not use. With `keep` (and the pipeline's memory), an image
        may be files the store has already, kept alive by `keep` instead of written."""
        uploads = uploads or {}
        gate = asyncio.Semaphore(self._limits.concurrency)
        deadline = anyio.current_time() + time_limit
        keys = sorted(sources)
        reuse = None
        if self._memory is not None and keep is not None:
            store_id = tenant[0]
            urls = [url for kind, url in keys if kind == "image" and url not in uploads]
            remembered = await anyio.to_thread.run_sync(self._memory.recall, store_id, urls)
            reuse = _Reuse(self._memory, store_id, keep, remembered, self._limits.max_pixels)
        outcomes = await asyncio.gather(
            *(
                self._one(
                    kind, url, put, gate, tenant, deadline, time_limit, uploads.get(url), reuse
                )
                for kind, url in keys
            )
        )
        if reuse is not None and reuse.learned:
            await anyio.to_thread.run_sync(reuse.memory.remember, reuse.store_id, reuse.learned)
        return dict(zip(keys, outcomes, strict=True))


class _Reuse:
    """One update's view of what its store has already: the sources remembered, the files of
    originals it holds, and what this update learns about its sources."""

    def __init__(
        self,
        memory: SourceMemory,
        store_id: int,
        keep: KeepBlobs,
        remembered: Mapping[str, Remembered],
        max_pixels: int,
    ) -> None:
        self.memory = memory
        self.store_id = store_id
        self.keep = keep
        self._max_pixels = max_pixels
        self.remembered = {url: r for url, r in remembered.items() if self._allowed(r.files)}
        self.revalidating = asyncio.Semaphore(REVALIDATIONS_PER_UPDATE)
        self.learned: dict[str, tuple[Validators, str]] = {}

    async def stored(self, key: str) -> ImageFiles | None:
        """The files of the store's image whose original has `key`, kept for the commit; None
        when there are none to keep (then the bytes are processed)."""
        try:
            files = await anyio.to_thread.run_sync(self.memory.files_of, self.store_id, key)
            if files is None or not self._allowed(files):
                return None
            if not await self.keep([blob.key for blob in files.blobs()]):
                return None
        except Exception:
            # Reuse is an optimisation: the bytes are processed instead.
            log.exception("stored files of %s could not be reused", key)
            return None
        return files

    def _allowed(self, files: ImageFiles) -> bool:
        # Stored under an earlier, higher pixel limit: the source is refused as it would be.
        return files.width * files.height <= self._max_pixels
