"""A video source becomes a video: a YouTube or Vimeo link (title and cover from the
provider's oEmbed endpoint), or a video file streamed to disk, probed, and given a cover
from one of its keyframes. Never raises for a bad source: every one ends as an Outcome."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlencode

import anyio

from product_media import metrics
from product_media.domain.blob_keys import digest_key
from product_media.domain.media import Blob, ImageFiles, VideoFiles
from product_media.domain.media_update import wrong_url
from product_media.domain.plan import (
    DOWNLOAD_VIDEO_FAILED,
    NOT_VIDEO_URL,
    VIDEO_NOT_SUPPORTED,
    VIDEO_UNAVAILABLE,
    Failure,
    Ingested,
    Outcome,
)
from product_media.domain.video_links import Provider, ProviderLink, recognise
from product_media.ingest.fetcher import Fetcher, FetchError, FetchLimits, TooLarge
from product_media.ingest.formats import sniff
from product_media.ingest.images import ImageRejected
from product_media.ingest.memory_budget import MemoryBudget
from product_media.ingest.scratch import Scratch
from product_media.ingest.video_files import (
    DEMUXERS,
    VideoLimits,
    VideoRejected,
    cover_frame,
    cover_memory,
    probe_video,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# An oEmbed answer is a small JSON object; the title is cut to this many characters.
OEMBED_MAX_BYTES = 256 * 1024
MAX_TITLE = 500

DEFAULT_OEMBED_ENDPOINTS: Mapping[Provider, str] = MappingProxyType(
    {"YouTube": "https://www.youtube.com/oembed", "Vimeo": "https://vimeo.com/api/oembed.json"}
)

# Writes new blobs ({key: bytes, or the path of a file to copy}) so that nothing collects them
# before the commit.
PutBlobs = Callable[[Mapping[str, bytes | Path]], Awaitable[None]]
# Image bytes -> the image's files and the blobs to write; raises ImageRejected.
MakeImage = Callable[[bytes], Awaitable[tuple[ImageFiles, dict[str, bytes]]]]


@dataclass(frozen=True)
class VideoSourceLimits:
    """`download` bounds a video file's download, `files` what its contents may be;
    `thumbnail` bounds an oEmbed request and the fetch of the thumbnail it names."""

    download: FetchLimits
    files: VideoLimits
    thumbnail: FetchLimits
    oembed_endpoints: Mapping[Provider, str] = field(
        default_factory=lambda: DEFAULT_OEMBED_ENDPOINTS
    )


class _OEmbedError(Exception):
    """The provider's oEmbed answer cannot be used; str() says why."""


@dataclass(frozen=True)
class _OEmbed:
    title: str
    thumbnail_url: str


def oembed_url(endpoint: str, link: ProviderLink) -> str:
    """`GET {endpoint}?url={canonical page URL}&format=json` (DESIGN section 2)."""
    query = urlencode({"url": link.page_url, "format": "json"})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def parse_oembed(body: bytes) -> _OEmbed:
    """The title and thumbnail URL of an oEmbed answer; raises _OEmbedError."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _OEmbedError("answer is not JSON") from None
    if not isinstance(data, dict):
        raise _OEmbedError("answer is not a JSON object")
    title, thumbnail = data.get("title", ""), data.get("thumbnail_url")
    if not isinstance(title, str):
        raise _OEmbedError("answer has no usable title")
    if not isinstance(thumbnail, str) or wrong_url("thumbnail_url", thumbnail) is not None:
        raise _OEmbedError("answer has no usable thumbnail_url")
    return _OEmbed(title.strip()[:MAX_TITLE], thumbnail)


def _video_head(head: bytes) -> None:
    """Stops a download as soon as its first bytes show it is no video file."""
    fmt = sniff(head)
    if fmt is None:
        raise VideoRejected(NOT_VIDEO_URL, "not a video file (MP4, MOV or WebM)")
    if fmt.kind != "video":
        raise VideoRejected(NOT_VIDEO_URL, f"an image ({fmt.mime}), not a video")
    if fmt not in DEMUXERS:
        raise VideoRejected(
            VIDEO_NOT_SUPPORTED, f"a {fmt.mime} file; only MP4, MOV and WebM are allowed"
        )


class _Busy:
    """Seconds spent working in threads, waits for a worker or the budget excluded."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, work: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            started = time.perf_counter()
            try:
                return work()
            finally:
                self.seconds += time.perf_counter() - started

        return run


class VideoSources:
    """Turns video URLs into videos, with the pipeline's fetcher, workers and budget."""

    def __init__(
        self,
        fetcher: Fetcher,
        cpu: anyio.CapacityLimiter,
        decode_memory: MemoryBudget,
        scratch: Scratch,
        limits: VideoSourceLimits,
        make_image: MakeImage,
    ) -> None:
        self._fetcher = fetcher
        self._cpu = cpu
        self._decode_memory = decode_memory
        self._scratch = scratch
        self._limits = limits
        self._make_image = make_image

    async def ingest(self, url: str, put: PutBlobs) -> Outcome:
        link = recognise(url)
        if link is not None:
            return await self._provider(url, link, put)
        return await self._file(url, put)

    async def _provider(self, url: str, link: ProviderLink, put: PutBlobs) -> Outcome:
        video = VideoFiles(url=url, provider_name=link.provider)
        endpoint = self._limits.oembed_endpoints[link.provider]
        oembed_limits = replace(self._limits.thumbnail, max_bytes=OEMBED_MAX_BYTES)
        try:
            answer = await self._fetcher.fetch(oembed_url(endpoint, link), oembed_limits)
            meta = parse_oembed(answer.content)
        except (FetchError, _OEmbedError) as exc:
            return self._bare(url, video, f"oEmbed: {exc}")
        try:
            thumbnail = await self._fetcher.fetch(meta.thumbnail_url, self._limits.thumbnail)
            metrics.FETCHED_BYTES.inc(len(thumbnail.content))
            cover, contents = await self._make_image(thumbnail.content)
        except (FetchError, ImageRejected) as exc:
            return self._bare(url, video, f"thumbnail: {exc}")
        await put(contents)
        return Ingested(replace(video, title=meta.title, cover=cover))

    def _bare(self, url: str, video: VideoFiles, why: str) -> Ingested:
        """The video without title and cover, and the warning that says so. (A gallery item
        that names an image too still gets that image as its cover.)"""
        provider = video.provider_name
        log.info("%s video added without its title and thumbnail: %s", provider, why)
        return Ingested(
            video, warning=f"{url}: added without {provider}'s title and thumbnail ({why})"
        )

    async def _file(self, url: str, put: PutBlobs) -> Outcome:
        busy = _Busy()
        files = self._limits.files
        started = time.perf_counter()
        with self._scratch.file() as path:
            try:
                downloaded = await self._fetcher.download(
                    url, self._limits.download, path, check_head=_video_head
                )
                metrics.FETCHED_BYTES.inc(downloaded.size)
                fetched = time.perf_counter()
                fmt = sniff(downloaded.head)
                assert fmt is not None, "the download's head was checked"
                probed = await anyio.to_thread.run_sync(
                    busy.timed(lambda: probe_video(path, fmt, files)), limiter=self._cpu
                )
                async with self._decode_memory.hold(cover_memory(probed)) as held:
                    metrics.DECODE_BUDGET_BYTES_IN_USE.inc(held)
                    try:
                        frame = await anyio.to_thread.run_sync(
                            busy.timed(lambda: cover_frame(path, probed, files)),
                            limiter=self._cpu,
                        )
                    finally:
                        metrics.DECODE_BUDGET_BYTES_IN_USE.dec(held)
                cover, contents = await self._make_image(frame)
            except TooLarge as exc:
                return _failed(url, VIDEO_NOT_SUPPORTED, str(exc))
            except FetchError as exc:
                return _failed(url, VIDEO_UNAVAILABLE, str(exc))
            except VideoRejected as exc:
                return _failed(url, exc.category, str(exc))
            except ImageRejected as exc:
                return _failed(url, VIDEO_UNAVAILABLE, f"its cover frame: {exc}")
            finally:
                if busy.seconds:
                    metrics.PROCESSING_SECONDS.observe(busy.seconds)
            key = digest_key(downloaded.sha256, fmt.extension)
            processed = time.perf_counter()
            await put({key: path, **contents})
        log.info(
            "video file %s (%s %dx%d, %.1f s, %d bytes): downloaded in %.2f s, probed and "
            "given a cover in %.2f s, stored in %.2f s",
            key,
            probed.codec,
            probed.width,
            probed.height,
            probed.duration,
            downloaded.size,
            fetched - started,
            processed - fetched,
            time.perf_counter() - processed,
        )
        return Ingested(VideoFiles(file=Blob(key, fmt.mime), cover=cover))


def _failed(url: str, category: str, reason: str) -> Failure:
    log.info("video source refused (%s): %s", category, reason)
    return Failure(DOWNLOAD_VIDEO_FAILED, f"{url}: {reason}", category)
