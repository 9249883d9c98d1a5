"""Structure walks in Python have caps, so no file costs more than a fraction of a second.

The hostile files are made of the smallest blocks a format allows, about 20 MB of them (the
download limit). Each must be refused (or accepted) within 1.0 s of CPU time, five times the
0.2 s aimed at, so a slow or busy machine cannot fail the test; bench/decode_estimates.py
prints the real figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from product_media.ingest.gif_check import (
    MAX_GIF_EXTENSIONS,
    MAX_GIF_FRAMES,
    MAX_GIF_SHORT_SUB_BLOCKS,
)
from product_media.ingest.images import (
    MAX_WEBP_CHUNKS,
    ImageRejected,
    Inspected,
    configure_vips,
    inspect_image,
    process_image,
)
from tests import media_factory as mf

MAX_PIXELS = 100_000_000
CPU_SECONDS = 5 * 0.2


@pytest.fixture(scope="module", autouse=True)
def _locked_down_vips() -> None:
    configure_vips()


def timed_inspect(data: bytes) -> tuple[Inspected | ImageRejected, float]:
    """inspect_image's result or refusal, and the CPU time it took."""
    started = time.process_time()
    try:
        result: Inspected | ImageRejected = inspect_image(data, max_pixels=MAX_PIXELS)
    except ImageRejected as exc:
        result = exc
    return result, time.process_time() - started


# The first short sub-block of a block is its last with data, so only the others count.
HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "gif-6.6-million-comments": (
        lambda: mf.gif_flood(comments=6_600_000),
        f"GIF of more than {MAX_GIF_EXTENSIONS} extension blocks",
    ),
    "gif-1.3-million-frames": (
        lambda: mf.gif_flood(frames=1_300_000),
        f"animation of more than {MAX_GIF_FRAMES} frames",
    ),
    "gif-10-million-sub-blocks": (
        lambda: mf.gif_flood(sub_blocks=10_000_000),
        f"GIF of more than {MAX_GIF_SHORT_SUB_BLOCKS} short data sub-blocks",
    ),
    "gif-one-extension-too-many": (
        lambda: mf.gif_flood(comments=MAX_GIF_EXTENSIONS + 1),
        f"GIF of more than {MAX_GIF_EXTENSIONS} extension blocks",
    ),
    "gif-one-frame-too-many": (
        lambda: mf.gif_flood(frames=MAX_GIF_FRAMES + 1),
        f"animation of more than {MAX_GIF_FRAMES} frames",
    ),
    "gif-one-sub-block-too-many": (
        lambda: mf.gif_flood(sub_blocks=MAX_GIF_SHORT_SUB_BLOCKS + 2),
        f"GIF of more than {MAX_GIF_SHORT_SUB_BLOCKS} short data sub-blocks",
    ),
    "webp-2.5-million-chunks": (
        lambda: mf.webp_chunk_flood(2_500_000),
        f"WebP of more than {MAX_WEBP_CHUNKS} chunks",
    ),
    "webp-one-chunk-too-many": (
        lambda: mf.webp_chunk_flood(MAX_WEBP_CHUNKS),  # after the image's own chunk
        f"WebP of more than {MAX_WEBP_CHUNKS} chunks",
    ),
}


@pytest.mark.parametrize(("make", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_floods_of_tiny_blocks_are_refused_quickly(make: Callable[[], bytes], reason: str) -> None:
    result, seconds = timed_inspect(make())

    assert isinstance(result, ImageRejected)
    assert str(result) == reason
    assert seconds < CPU_SECONDS


# Every cap reached at once, the extensions before the first frame, where Pillow walks them
# again: the most work an accepted GIF can ask of the walks.
AT_THE_CAPS: dict[str, Callable[[], bytes]] = {
    "gif-every-cap": lambda: mf.gif_flood(
        comments=MAX_GIF_EXTENSIONS - 1,
        sub_blocks=MAX_GIF_SHORT_SUB_BLOCKS + 1,
        frames=MAX_GIF_FRAMES,
    ),
    "webp-every-chunk": lambda: mf.webp_chunk_flood(MAX_WEBP_CHUNKS - 1),
}


@pytest.mark.parametrize("make", AT_THE_CAPS.values(), ids=AT_THE_CAPS.keys())
def test_files_at_the_caps_are_accepted_quickly(make: Callable[[], bytes]) -> None:
    result, seconds = timed_inspect(make())

    assert isinstance(result, Inspected)
    assert seconds < CPU_SECONDS


@pytest.mark.parametrize("frames", [3000, 10_000])
def test_long_animations_still_pass(frames: int) -> None:
    for data in (mf.gif_frames(64, 48, frames), mf.webp_frames(64, 48, frames)):
        result = process_image(data, max_pixels=MAX_PIXELS)
        assert (result.width, result.height) == (64, 48)
