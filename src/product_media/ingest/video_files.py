"""Video files, probed with PyAV (FFmpeg's libraries) and given a cover frame.

FFmpeg opens nothing but the downloaded local file: the demuxer is chosen from the type the
bytes were sniffed as (never probed), must be one of an allowlist (`mov` for MP4 and MOV,
`matroska` for WebM), and may reach files through the `file` protocol alone; QuickTime
external data references stay off. The PyAV wheels ship FFmpeg's HLS and concat demuxers,
whose playlists have leaked local files to uploaders before: with the demuxer forced and
allowlisted, no playlist, concat list or network URL is ever read. Only the decoders of an
allowlist of video codecs are used, and only one keyframe is decoded, for the cover.

Every call here blocks (the file is read, a frame decoded): callers run them in worker
threads.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import av
import av.container
import av.video.stream
from PIL import Image

from product_media.domain.plan import NOT_VIDEO_URL, VIDEO_NOT_SUPPORTED, VIDEO_UNAVAILABLE
from product_media.ingest.formats import MOV, MP4, WEBM, Format

# The demuxer each sniffed type is opened with, and the names FFmpeg gives it once opened.
DEMUXERS: Mapping[Format, str] = MappingProxyType({MP4: "mov", MOV: "mov", WEBM: "matroska"})
_DEMUXER_NAMES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "mov": frozenset({"mov", "mov,mp4,m4a,3gp,3g2,mj2"}),
        "matroska": frozenset({"matroska", "matroska,webm"}),
    }
)
# Options every open passes: the file protocol alone, the chosen demuxer alone, a bounded probe.
_OPEN_OPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "protocol_whitelist": "file",
        "probesize": str(5_000_000),
        "analyzeduration": str(5_000_000),
        "max_streams": "32",
    }
)
# QuickTime data references may name other files; FFmpeg leaves them off, and so do we.
_DEMUXER_OPTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"mov": {"enable_drefs": "0", "use_absolute_path": "0"}, "matroska": {}}
)
# The video codecs browsers play, by FFmpeg's codec name, and the decoders they may use.
CODECS: frozenset[str] = frozenset({"h264", "hevc", "vp8", "vp9", "av1"})
_DECODERS = "h264,hevc,vp8,vp9,libvpx,libvpx-vp9,libdav1d,av1"
CODEC_NAMES: Mapping[str, str] = MappingProxyType(
    {"h264": "H.264", "hevc": "HEVC", "vp8": "VP8", "vp9": "VP9", "av1": "AV1"}
)

# Where in the video the cover is taken: a keyframe near this fraction of its duration.
COVER_AT = 0.1
COVER_JPEG_QUALITY = 90
# Packets read after a seek, at most, to find a keyframe to decode.
_MAX_PACKETS = 600
_MAX_REASON = 160


class VideoRejected(Exception):
    """The file cannot be used; `category` is NOT_VIDEO_URL, VIDEO_NOT_SUPPORTED or
    VIDEO_UNAVAILABLE, str() a short reason."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category


@dataclass(frozen=True)
class VideoLimits:
    max_seconds: float
    max_side: int


@dataclass(frozen=True)
class ProbedVideo:
    """What the container says of a video file; width and height as coded."""

    demuxer: str
    codec: str
    duration: float
    width: int
    height: int
    has_audio: bool


def demuxer_for(fmt: Format) -> str:
    demuxer = DEMUXERS.get(fmt)
    if demuxer is None:
        raise VideoRejected(NOT_VIDEO_URL, "not a video file (MP4, MOV or WebM)")
    return demuxer


@contextlib.contextmanager
def _opened(path: Path, demuxer: str) -> Iterator[av.container.InputContainer]:
    options = {
        **_OPEN_OPTIONS,
        **_DEMUXER_OPTIONS[demuxer],
        "format_whitelist": ",".join(sorted(_DEMUXER_NAMES[demuxer])),
        "codec_whitelist": _DECODERS,
    }
    try:
        container = av.open(
            f"file:{path}",
            mode="r",
            format=demuxer,
            container_options=options,
            metadata_errors="replace",
        )
    except av.FFmpegError as exc:
        raise VideoRejected(VIDEO_UNAVAILABLE, _reason("not a readable video", exc)) from None
    try:
        # Checked again although the demuxer was forced: nothing else may have read the file.
        if container.format.name not in _DEMUXER_NAMES[demuxer]:
            raise VideoRejected(
                VIDEO_NOT_SUPPORTED, f"container {container.format.name[:40]} is not allowed"
            )
        yield container
    finally:
        container.close()


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    streams = [s for s in container.streams.video if not _is_picture(s)]
    if not streams:
        raise VideoRejected(NOT_VIDEO_URL, "the file has no video stream")
    return streams[0]


def _is_picture(stream: av.video.stream.VideoStream) -> bool:
    """An attached picture (cover art of an audio file) is a video stream of one image."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    # Neither header tells: the last packet does (demuxing only, nothing decoded).
    last = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None and packet.time_base is not None:
            end = packet.pts + (packet.duration or 0)
            last = max(last, float(end * packet.time_base))
    return last


def probe_video(path: Path, fmt: Format, limits: VideoLimits) -> ProbedVideo:
    """The container, codec, duration and size of the video file at `path`, checked against
    `limits` and the allowlists; raises VideoRejected."""
    demuxer = demuxer_for(fmt)
    try:
        with _opened(path, demuxer) as container:
            stream = _video_stream(container)
            codec = stream.codec_context.name
            if codec not in CODECS:
                raise VideoRejected(
                    VIDEO_NOT_SUPPORTED,
                    f"video codec {codec[:40]} is not supported (H.264, HEVC, VP8, VP9 or AV1)",
                )
            width, height = stream.codec_context.width, stream.codec_context.height
            if width < 1 or height < 1:
                raise VideoRejected(VIDEO_UNAVAILABLE, "the video stream has no picture size")
            if max(width, height) > limits.max_side:
                raise VideoRejected(
                    VIDEO_NOT_SUPPORTED,
                    f"{width}x{height} is larger than {limits.max_side} px on its long side",
                )
            duration = _duration(container, stream)
            if duration > limits.max_seconds:
                raise VideoRejected(
                    VIDEO_NOT_SUPPORTED,
                    f"{duration:.1f} s is longer than the {limits.max_seconds:g} s allowed",
                )
            return ProbedVideo(
                demuxer=demuxer,
                codec=codec,
                duration=duration,
                width=width,
                height=height,
                has_audio=bool(container.streams.audio),
            )
    except av.FFmpegError as exc:
        raise VideoRejected(VIDEO_UNAVAILABLE, _reason("not a readable video", exc)) from None


def cover_memory(probed: ProbedVideo) -> int:
    """Bytes that taking a cover may hold at most: the decoder's frames (a keyframe and what
    it keeps around it, in up to 16 bits a sample), the RGB copy and the JPEG encoder's."""
    pixels = probed.width * probed.height
    return pixels * 3 * 2 * 3 + pixels * 4 * 2


def _first_keyframe(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> av.VideoFrame | None:
    for count, packet in enumerate(container.demux(stream)):
        if count >= _MAX_PACKETS:
            return None
        for frame in packet.decode():
            return frame
    return None


def cover_frame(path: Path, probed: ProbedVideo, limits: VideoLimits) -> bytes:
    """A JPEG of a keyframe near COVER_AT of the video, turned as the file says it is
    displayed; raises VideoRejected."""
    try:
        with _opened(path, probed.demuxer) as container:
            stream = _video_stream(container)
            context = stream.codec_context
            # Only keyframes are decoded, on this thread alone, and no larger than the limit.
            context.skip_frame = "NONKEY"
            context.thread_count = 1
            context.options = {"max_pixels": str(limits.max_side * limits.max_side)}
            frame = None
            if probed.duration > 0 and stream.time_base:
                target = int(probed.duration * COVER_AT / stream.time_base)
                container.seek(target, stream=stream, backward=True)
                frame = _first_keyframe(container, stream)
            if frame is None:
                container.seek(0, stream=stream, backward=True)
                frame = _first_keyframe(container, stream)
            if frame is None:
                raise VideoRejected(VIDEO_UNAVAILABLE, "no frame of the video could be decoded")
            if max(frame.width, frame.height) > limits.max_side:
                raise VideoRejected(
                    VIDEO_NOT_SUPPORTED,
                    f"frames of {frame.width}x{frame.height} are larger than "
                    f"{limits.max_side} px on their long side",
                )
            rgb = frame.reformat(format="rgb24")
            plane = rgb.planes[0]
            picture = Image.frombuffer(
                "RGB", (rgb.width, rgb.height), bytes(plane), "raw", "RGB", plane.line_size, 1
            )
            if frame.rotation % 360:
                # Both count degrees counter-clockwise.
                picture = picture.rotate(frame.rotation, expand=True)
    except av.FFmpegError as exc:
        raise VideoRejected(VIDEO_UNAVAILABLE, _reason("the video does not decode", exc)) from None
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=COVER_JPEG_QUALITY)
    return out.getvalue()


def _reason(prefix: str, exc: av.FFmpegError) -> str:
    # FFmpeg's messages name the file: the local path is nobody's business.
    detail = getattr(exc, "strerror", None) or type(exc).__name__
    return f"{prefix}: {detail}"[:_MAX_REASON]
