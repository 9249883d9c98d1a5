"""Video files probed with PyAV, and their cover frames (ingest/video_files.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from product_media.domain.plan import NOT_VIDEO_URL, VIDEO_NOT_SUPPORTED, VIDEO_UNAVAILABLE
from product_media.ingest.formats import MATROSKA, MOV, MP4, WEBM, Format, sniff
from product_media.ingest.video_files import (
    VideoLimits,
    VideoRejected,
    cover_frame,
    cover_memory,
    probe_video,
)
from tests.media_factory import truncated
from tests.video_factory import KEYFRAME_EVERY, audio_only, frame_level, mov, mp4, video, webm

LIMITS = VideoLimits(max_seconds=600, max_side=4096)


def _file(tmp_path: Path, data: bytes) -> tuple[Path, Format]:
    path = tmp_path / "video"
    path.write_bytes(data)
    fmt = sniff(data[:64])
    assert fmt is not None
    return path, fmt


def _jpeg(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "JPEG"
    return picture.convert("RGB")


@pytest.mark.parametrize(
    ("data", "fmt", "demuxer", "codec", "audio"),
    [
        (mp4(), MP4, "mov", "h264", False),
        (mp4(audio=True), MP4, "mov", "h264", True),
        (mov(), MOV, "mov", "h264", False),
        (webm(), WEBM, "matroska", "vp9", False),
        (webm(audio=True), WEBM, "matroska", "vp9", True),
        (video("webm", "libvpx"), WEBM, "matroska", "vp8", False),
    ],
    ids=["mp4", "mp4+audio", "mov", "webm", "webm+audio", "webm-vp8"],
)
def test_probe(
    tmp_path: Path, data: bytes, fmt: Format, demuxer: str, codec: str, audio: bool
) -> None:
    path, sniffed = _file(tmp_path, data)
    assert sniffed == fmt
    probed = probe_video(path, fmt, LIMITS)
    assert (probed.demuxer, probed.codec, probed.has_audio) == (demuxer, codec, audio)
    assert (probed.width, probed.height) == (320, 240)
    assert probed.duration == pytest.approx(4.0, abs=0.15)


@pytest.mark.parametrize("make", [mp4, mov, webm], ids=["mp4", "mov", "webm"])
def test_cover_is_a_keyframe_near_a_tenth(tmp_path: Path, make: object) -> None:
    path, fmt = _file(tmp_path, make())  # type: ignore[operator]
    picture = _jpeg(cover_frame(path, probe_video(path, fmt, LIMITS), LIMITS))
    assert picture.size == (320, 240)
    # A tenth of 4 s at 10 frames a second is frame 4, a keyframe.
    assert KEYFRAME_EVERY == 4
    assert all(abs(c - frame_level(4)) <= 6 for c in picture.getpixel((300, 200)))  # type: ignore[union-attr]
    # The marker, in the stored top-left corner: nothing was turned.
    assert picture.getpixel((10, 10))[0] > 200  # type: ignore[index]


def test_cover_is_turned_as_displayed(tmp_path: Path) -> None:
    path, fmt = _file(tmp_path, mp4(rotation=90))
    probed = probe_video(path, fmt, LIMITS)
    assert (probed.width, probed.height) == (320, 240)  # as coded
    picture = _jpeg(cover_frame(path, probed, LIMITS))
    # 90 degrees counter-clockwise: the top-left marker ends bottom-left.
    assert picture.size == (240, 320)
    assert picture.getpixel((10, 310))[0] > 200  # type: ignore[index]
    assert picture.getpixel((10, 10))[0] < 100  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "limits", "category", "reason"),
    [
        (audio_only(), LIMITS, NOT_VIDEO_URL, "the file has no video stream"),
        (
            video("mp4", "mpeg4"),
            LIMITS,
            VIDEO_NOT_SUPPORTED,
            "video codec mpeg4 is not supported (H.264, HEVC, VP8, VP9 or AV1)",
        ),
        (
            mp4(),
            VideoLimits(max_seconds=3, max_side=4096),
            VIDEO_NOT_SUPPORTED,
            "4.0 s is longer than the 3 s allowed",
        ),
        (
            mp4(),
            VideoLimits(max_seconds=600, max_side=300),
            VIDEO_NOT_SUPPORTED,
            "320x240 is larger than 300 px on its long side",
        ),
    ],
    ids=["audio-only", "mpeg4", "too-long", "too-large"],
)
def test_refused(
    tmp_path: Path, data: bytes, limits: VideoLimits, category: str, reason: str
) -> None:
    path, fmt = _file(tmp_path, data)
    with pytest.raises(VideoRejected) as refused:
        probe_video(path, fmt, limits)
    assert (refused.value.category, str(refused.value)) == (category, reason)


@pytest.mark.parametrize(
    "data",
    [
        truncated(mp4(), 0.3),
        b"\x00\x00\x00\x18ftypisom" + b"\x00" * 500,
        b"\x1a\x45\xdf\xa3" + b"\xff" * 500,
    ],
    ids=["truncated-mp4", "empty-mp4", "broken-webm"],
)
def test_broken_files_are_unavailable(tmp_path: Path, data: bytes) -> None:
    path, fmt = _file(tmp_path, data)
    with pytest.raises(VideoRejected) as refused:
        cover_frame(path, probe_video(path, fmt, LIMITS), LIMITS)
    assert refused.value.category == VIDEO_UNAVAILABLE
    assert str(path) not in str(refused.value)


@pytest.mark.parametrize(
    "content",
    [
        # An HLS playlist and a concat list naming a local file: what FFmpeg's own demuxers
        # would read and hand back as video, had they been allowed to probe the file.
        b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
    ],
    ids=["hls", "concat"],
)
@pytest.mark.parametrize("fmt", [MP4, WEBM], ids=["as-mp4", "as-webm"])
def test_playlists_are_never_demuxed(tmp_path: Path, content: bytes, fmt: Format) -> None:
    """Whatever a file's bytes, only the allowlisted demuxer picked from its sniffed type opens
    it: a playlist is then just a broken file."""
    path = tmp_path / "playlist"
    path.write_bytes(content)
    with pytest.raises(VideoRejected) as refused:
        probe_video(path, fmt, LIMITS)
    assert refused.value.category == VIDEO_UNAVAILABLE


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (lambda: webm(), WEBM),
        (lambda: video("matroska", "libvpx-vp9"), MATROSKA),
        (lambda: b"\x1a\x45\xdf\xa3" + b"\x00" * 60, WEBM),
    ],
    ids=["webm", "matroska", "no doc type"],
)
def test_webm_is_told_from_other_matroska_by_its_doc_type(data: object, fmt: Format) -> None:
    assert sniff(data()[:64]) == fmt  # type: ignore[operator]


def test_a_matroska_file_opened_as_mp4_is_refused(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, webm())
    with pytest.raises(VideoRejected):
        probe_video(path, MP4, LIMITS)


def test_cover_memory_grows_with_pixels(tmp_path: Path) -> None:
    path, fmt = _file(tmp_path, mp4())
    small = cover_memory(probe_video(path, fmt, LIMITS))
    path, fmt = _file(tmp_path, mp4(w=640, h=480))
    assert cover_memory(probe_video(path, fmt, LIMITS)) == 4 * small
