"""Video sources through the real pipeline and fetcher, from a source server on 127.0.0.1:
provider links (with a local stand-in for the providers' oEmbed endpoints: no test reaches
YouTube or Vimeo) and video files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from product_media.domain.media import ImageFiles, VideoFiles
from product_media.domain.plan import (
    DOWNLOAD_VIDEO_FAILED,
    NOT_VIDEO_URL,
    VIDEO_NOT_SUPPORTED,
    VIDEO_UNAVAILABLE,
    Failure,
    Ingested,
    Outcome,
)
from product_media.ingest.address_policy import AddressPolicy, parse_networks
from product_media.ingest.fetcher import Fetcher, FetchLimits
from product_media.ingest.pipeline import DEFAULT_VIDEO_LIMITS, IngestLimits, Pipeline
from product_media.ingest.scratch import Scratch
from product_media.ingest.video_files import VideoLimits
from product_media.ingest.video_sources import VideoSourceLimits
from tests.media_factory import html, jpeg, truncated
from tests.source_server import SourceServer
from tests.video_factory import audio_only, mov, mp4, video, webm

YT = "dQw4w9WgXcQ"


class Run:
    """One pipeline per test, its oEmbed endpoints on the source server under fresh paths."""

    def __init__(self, sources: SourceServer, tmp_path: Path, **video: object) -> None:
        self.sources = sources
        self.base = f"/video-sources/{uuid.uuid4().hex}"
        self.youtube = f"{self.base}/youtube/oembed"
        self.vimeo = f"{self.base}/vimeo/oembed.json"
        self.scratch = tmp_path / "scratch"
        files = VideoLimits(
            max_seconds=float(video.pop("max_seconds", 600)),  # type: ignore[arg-type]
            max_side=int(video.pop("max_side", 4096)),  # type: ignore[call-overload]
        )
        download = replace(DEFAULT_VIDEO_LIMITS.download, **video)  # type: ignore[arg-type]
        self.limits = VideoSourceLimits(
            download=download,
            files=files,
            thumbnail=DEFAULT_VIDEO_LIMITS.thumbnail,
            oembed_endpoints={
                "YouTube": sources.url(self.youtube),
                "Vimeo": sources.url(self.vimeo) + "?maxwidth=640",
            },
        )
        self.stored: dict[str, bytes] = {}

    def serve(self, name: str, body: bytes, **options: object) -> str:
        return self.sources.add(f"{self.base}/{name}", body, **options)  # type: ignore[arg-type]

    def oembed(self, provider: str, answer: object, status: int = 200) -> None:
        body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        path = self.youtube if provider == "YouTube" else self.vimeo
        self.sources.add(path, body, status=status, headers={"Content-Type": "application/json"})

    def __call__(self, *urls: str) -> dict[str, Outcome]:
        async def put(contents: Mapping[str, bytes | Path]) -> None:
            for key, content in contents.items():
                # A file is there while put runs, and only then.
                self.stored[key] = content.read_bytes() if isinstance(content, Path) else content

        async def main() -> dict[tuple[str, str], Outcome]:
            fetcher = Fetcher(AddressPolicy(parse_networks("127.0.0.1/32")))
            limits = IngestLimits(
                image_fetch=FetchLimits(max_bytes=5_000_000, connect_timeout=2, total_timeout=10),
                max_pixels=100_000_000,
                concurrency=4,
                max_in_flight=8,
                decode_memory=2**30,
                max_per_store=8,
                video=self.limits,
            )
            scratch = Scratch(self.scratch, "a" * 32)
            pipeline = Pipeline(fetcher, anyio.CapacityLimiter(2), limits, scratch)
            try:
                sources = [("video", url) for url in urls]
                return await pipeline.run(sources, put, tenant=(1, "t"), time_limit=60)
            finally:
                await fetcher.aclose()

        outcomes = asyncio.run(main())
        # Every download is gone from the scratch folder once its source is done.
        assert not list(self.scratch.glob("*"))
        return {url: outcome for (_, url), outcome in outcomes.items()}


@pytest.fixture
def run(sources: SourceServer, tmp_path: Path) -> Run:
    return Run(sources, tmp_path)


def _cover_sizes(cover: ImageFiles | None) -> dict[int, str]:
    assert cover is not None
    return {size: blob.content_type for size, blob in cover.derived.items()}


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.youtube.com/watch?v={YT}",
        f"http://m.youtube.com/watch?v={YT}&t=1",
        f"https://youtu.be/{YT}",
        f"https://www.youtube.com/shorts/{YT}",
        f"https://www.youtube.com/embed/{YT}",
    ],
)
def test_youtube_title_and_cover_from_oembed(run: Run, url: str) -> None:
    thumbnail = run.serve("hq.jpg", jpeg(480, 360))
    run.oembed("YouTube", {"type": "video", "title": " A song ", "thumbnail_url": thumbnail})
    outcome = run(url)[url]
    assert isinstance(outcome, Ingested) and outcome.warning is None
    video = outcome.files
    assert isinstance(video, VideoFiles)
    assert (video.url, video.provider_name, video.title, video.file) == (
        url,
        "YouTube",
        "A song",
        None,
    )
    assert video.cover is not None and (video.cover.width, video.cover.height) == (480, 360)
    assert _cover_sizes(video.cover) == dict.fromkeys((160, 400, 800, 1500), "image/jpeg")
    assert {b.key for b in video.cover.blobs()} <= set(run.stored)
    # Asked about the canonical page, in JSON, whatever form the link had.
    (target,) = run.sources.targets(run.youtube)
    query = parse_qs(urlsplit(target).query)
    assert query == {"url": [f"https://www.youtube.com/watch?v={YT}"], "format": ["json"]}


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("https://vimeo.com/76979871", "https://vimeo.com/76979871"),
        ("https://player.vimeo.com/video/76979871?autoplay=1", "https://vimeo.com/76979871"),
        # Unlisted: oEmbed answers only about the page with its privacy hash.
        ("https://vimeo.com/76979871/8272103f6e", "https://vimeo.com/76979871/8272103f6e"),
        (
            "https://player.vimeo.com/video/76979871?h=8272103f6e",
            "https://vimeo.com/76979871/8272103f6e",
        ),
    ],
)
def test_vimeo_title_and_cover_from_oembed(run: Run, url: str, page: str) -> None:
    run.oembed("Vimeo", {"title": "Clip", "thumbnail_url": run.serve("t.jpg", jpeg(640, 360))})
    outcome = run(url)[url]
    assert isinstance(outcome, Ingested) and isinstance(outcome.files, VideoFiles)
    assert (outcome.files.provider_name, outcome.files.title) == ("Vimeo", "Clip")
    assert outcome.files.cover is not None
    (target,) = run.sources.targets(run.vimeo)
    query = parse_qs(urlsplit(target).query)
    assert query == {
        "maxwidth": ["640"],
        "url": [page],
        "format": ["json"],
    }


@pytest.mark.parametrize(
    ("status", "answer", "thumbnail", "why"),
    [
        (404, b"no", None, "oEmbed: HTTP 404 from source"),
        (200, b"<html>", None, "oEmbed: answer is not JSON"),
        (200, ["a"], None, "oEmbed: answer is not a JSON object"),
        (200, {"title": 3}, None, "oEmbed: answer has no usable title"),
        (200, {"title": "t"}, None, "oEmbed: answer has no usable thumbnail_url"),
        (
            200,
            {"title": "t", "thumbnail_url": "file:///etc/passwd"},
            None,
            "oEmbed: answer has no usable thumbnail_url",
        ),
        (200, {"title": "t"}, "missing.jpg", "thumbnail: HTTP 404 from source"),
        (200, {"title": "t"}, "page.jpg", "thumbnail: not an image"),
    ],
)
def test_provider_video_added_bare_when_oembed_fails(
    run: Run, status: int, answer: object, thumbnail: str | None, why: str
) -> None:
    run.serve("page.jpg", html())
    if thumbnail is not None:
        assert isinstance(answer, dict)
        answer["thumbnail_url"] = run.sources.url(f"{run.base}/{thumbnail}")
    run.oembed("YouTube", answer, status=status)
    url = f"https://youtu.be/{YT}"
    outcome = run(url)[url]
    assert outcome == Ingested(
        VideoFiles(url=url, provider_name="YouTube"),
        warning=f"{url}: added without YouTube's title and thumbnail ({why})",
    )


@pytest.mark.parametrize(
    ("make", "extension", "mime"),
    [(mp4, "mp4", "video/mp4"), (mov, "mov", "video/quicktime"), (webm, "webm", "video/webm")],
)
def test_video_files(run: Run, make: object, extension: str, mime: str) -> None:
    content = make()  # type: ignore[operator]
    url = run.serve(f"clip.{extension}", content)
    outcome = run(url)[url]
    assert isinstance(outcome, Ingested) and outcome.warning is None
    video = outcome.files
    assert isinstance(video, VideoFiles) and video.file is not None
    assert (video.url, video.provider_name, video.title) == (None, "", "")
    assert video.file.key == f"{hashlib.sha256(content).hexdigest()}.{extension}"
    assert video.file.content_type == mime
    # Stored byte for byte; the cover is a frame, in the four sizes of any image.
    assert run.stored[video.file.key] == content
    assert video.cover is not None and (video.cover.width, video.cover.height) == (320, 240)
    assert {s: (b.content_type) for s, b in video.cover.derived.items()} == dict.fromkeys(
        (160, 400, 800, 1500), "image/jpeg"
    )
    assert {b.key for b in video.cover.blobs()} <= set(run.stored)


def _refusal(outcome: Outcome) -> tuple[str | None, str]:
    assert isinstance(outcome, Failure) and outcome.code == DOWNLOAD_VIDEO_FAILED
    return outcome.category, outcome.message.partition(": ")[2]


@pytest.mark.parametrize(
    ("name", "body", "options", "category", "reason"),
    [
        ("page", html(), {}, NOT_VIDEO_URL, "not a video file (MP4, MOV or WebM)"),
        ("pic.mp4", jpeg(40, 30), {}, NOT_VIDEO_URL, "an image (image/jpeg), not a video"),
        ("song.mp4", audio_only(), {}, NOT_VIDEO_URL, "the file has no video stream"),
        (
            "broken.mp4",
            truncated(mp4(), 0.2),
            {},
            VIDEO_UNAVAILABLE,
            "not a readable video: Invalid data found when processing input",
        ),
        ("gone.mp4", None, {}, VIDEO_UNAVAILABLE, "HTTP 404 from source"),
        ("empty.mp4", b"", {}, VIDEO_UNAVAILABLE, "empty response body"),
        (
            "big.mp4",
            mp4(),
            {"max_bytes": 1000},
            VIDEO_NOT_SUPPORTED,
            "larger than 1000 bytes",
        ),
        (
            "long.mp4",
            mp4(),
            {"max_seconds": 2},
            VIDEO_NOT_SUPPORTED,
            "4.0 s is longer than the 2 s allowed",
        ),
        (
            "film.mkv",
            video("matroska", "libvpx-vp9"),
            {},
            VIDEO_NOT_SUPPORTED,
            "a video/x-matroska file; only MP4, MOV and WebM are allowed",
        ),
        (
            "wide.webm",
            webm(),
            {"max_side": 200},
            VIDEO_NOT_SUPPORTED,
            "320x240 is larger than 200 px on its long side",
        ),
    ],
)
def test_refused(
    sources: SourceServer,
    tmp_path: Path,
    name: str,
    body: bytes | None,
    options: dict[str, object],
    category: str,
    reason: str,
) -> None:
    run = Run(sources, tmp_path, **options)
    url = run.sources.url(f"{run.base}/{name}") if body is None else run.serve(name, body)
    assert _refusal(run(url)[url]) == (category, reason)
    assert not run.stored


def test_oversize_stream_is_cut_at_the_limit(sources: SourceServer, tmp_path: Path) -> None:
    """No declared length: the download stops once past the limit."""
    run = Run(sources, tmp_path, max_bytes=100_000)
    url = sources.endless(f"{run.base}/endless.mp4", mp4()[:65536])
    assert _refusal(run(url)[url]) == (VIDEO_NOT_SUPPORTED, "larger than 100000 bytes")


def test_a_page_is_refused_by_its_first_bytes(run: Run) -> None:
    """A page that never ends is refused as soon as its first bytes show it is no video."""
    url = run.sources.endless(f"{run.base}/endless", b"<html>" + b" " * 65530)
    assert _refusal(run(url)[url]) == (NOT_VIDEO_URL, "not a video file (MP4, MOV or WebM)")


def test_scratch_files_carry_their_owner(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path, "b" * 32)
    with scratch.file() as path:
        path.write_bytes(b"part")
        assert scratch.partial_write_owners() == {"b" * 32}
        Scratch(tmp_path, "c" * 32).clear_partial_writes({"c" * 32})
        assert path.exists()
        scratch.clear_partial_writes({"b" * 32})
        assert not path.exists()
    assert scratch.partial_write_owners() == set()
