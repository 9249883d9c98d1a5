"""Test videos as bytes, made with PyAV: H.264 in MP4 and MOV, VP9 in WebM, audio only, and
codecs the service does not take.

Frame i of a video is a flat grey of level `frame_level(i)` with a red marker block in its
stored top-left corner, and a keyframe comes every KEYFRAME_EVERY frames, so a test can tell
which frame became the cover and which way it was turned.
"""

from __future__ import annotations

import functools
import io

import av
import numpy as np

KEYFRAME_EVERY = 4
FPS = 10
MARKER_RGB = (255, 0, 0)


def frame_level(index: int) -> int:
    return min(250, 10 + index * 6)


def _picture(index: int, w: int, h: int) -> np.ndarray:
    rgb = np.full((h, w, 3), frame_level(index), dtype=np.uint8)
    rgb[: max(2, h // 4), : max(2, w // 4)] = MARKER_RGB
    return rgb


@functools.cache
def video(
    container: str = "mp4",
    codec: str = "libx264",
    *,
    w: int = 320,
    h: int = 240,
    seconds: float = 4.0,
    fps: int = FPS,
    audio: bool = False,
    rotation: int = 0,
) -> bytes:
    """A video of `seconds` at `fps`; `container` is a PyAV muxer name (mp4, mov, webm,
    matroska), `codec` an encoder (libx264, libvpx-vp9, libvpx, mpeg4)."""
    out = io.BytesIO()
    with av.open(out, "w", format=container) as muxer:
        stream = muxer.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = KEYFRAME_EVERY
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "keyint_min": str(KEYFRAME_EVERY)}
        elif codec.startswith("libvpx"):
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        if rotation:
            stream.set_display_rotation(rotation)
        sound = _audio_stream(muxer, container) if audio else None
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(_picture(index, w, h), format="rgb24")
            frame.pts = index
            muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))
        if sound is not None:
            _add_silence(muxer, sound, seconds)
    return out.getvalue()


def _audio_stream(muxer: av.container.OutputContainer, container: str) -> av.AudioStream:
    return muxer.add_stream("aac" if container in ("mp4", "mov") else "libopus", rate=48000)


def _add_silence(
    muxer: av.container.OutputContainer, stream: av.AudioStream, seconds: float
) -> None:
    size = stream.codec_context.frame_size or 1024
    for index in range(int(48000 * seconds / size)):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, size), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 48000, index * size
        muxer.mux(stream.encode(frame))
    muxer.mux(stream.encode(None))


@functools.cache
def audio_only(seconds: float = 2.0) -> bytes:
    """AAC in an MP4 container: an MP4 file with no video stream."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as muxer:
        _add_silence(muxer, _audio_stream(muxer, "mp4"), seconds)
    return out.getvalue()


def mp4(**options: object) -> bytes:
    return video("mp4", "libx264", **options)  # type: ignore[arg-type]


def mov(**options: object) -> bytes:
    return video("mov", "libx264", **options)  # type: ignore[arg-type]


def webm(**options: object) -> bytes:
    return video("webm", "libvpx-vp9", **options)  # type: ignore[arg-type]
