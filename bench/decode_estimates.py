"""Decode-memory estimates against measured peaks at 100 megapixels, and the worst structure walks.

Every way the accepted formats decode, at 10000 x 10000 and (for PNG and GIF, which hold
full-width rows) 65000 x 1538: each file is inspected and rendered alone in a fresh process,
which reports decode_memory's estimate and its peak resident memory beyond what it held before
(see tests/test_decode_estimates.py). Then the CPU time inspect_image takes over the hostile
files of tests/test_gif_caps.py: floods of the smallest GIF and WebP blocks, and a GIF at
every cap.

    .venv/bin/python bench/decode_estimates.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.media_factory import gif_flood, large_images, webp_chunk_flood
from tests.test_decode_estimates import measure_all

from product_media.ingest.gif_check import (
    MAX_GIF_EXTENSIONS,
    MAX_GIF_FRAMES,
    MAX_GIF_SHORT_SUB_BLOCKS,
)
from product_media.ingest.images import (
    MAX_WEBP_CHUNKS,
    ImageRejected,
    configure_vips,
    inspect_image,
)

MB = 1024 * 1024
SQUARE = (10_000, 10_000)
WIDE = (65_000, 1538)
WIDE_CASES = ("png", "png-alpha", "png-16-bit-alpha", "png-interlaced", "gif")


def decode_cases() -> dict[str, Callable[[], bytes]]:
    wide = large_images(*WIDE)
    return large_images(*SQUARE) | {f"wide-{name}": wide[name] for name in WIDE_CASES}


def hostile_cases() -> dict[str, Callable[[], bytes]]:
    return {
        "GIF, 6.6 million empty comments": lambda: gif_flood(comments=6_600_000),
        "GIF, 1.3 million 1x1 frames": lambda: gif_flood(frames=1_300_000),
        "GIF, 10 million one-byte sub-blocks": lambda: gif_flood(sub_blocks=10_000_000),
        "GIF at every cap (accepted)": lambda: gif_flood(
            comments=MAX_GIF_EXTENSIONS - 1,
            sub_blocks=MAX_GIF_SHORT_SUB_BLOCKS + 1,
            frames=MAX_GIF_FRAMES,
        ),
        "WebP, 2.5 million empty chunks": lambda: webp_chunk_flood(2_500_000),
        "WebP at the chunk cap (accepted)": lambda: webp_chunk_flood(MAX_WEBP_CHUNKS - 1),
    }


def print_estimates(only: list[str]) -> None:
    makers = {name: make for name, make in decode_cases().items() if not only or name in only}
    print(f"generating and decoding {len(makers)} files, two at a time ...", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        results = measure_all(makers, Path(folder))
    print()
    header = f"{'format and mode':34} {'file':>8} {'estimate':>9} {'peak':>7} {'est/peak':>8}"
    print(f"decode memory at {SQUARE[0]}x{SQUARE[1]} (wide: {WIDE[0]}x{WIDE[1]}):")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        flag = "" if r.estimate >= r.peak else "  UNDER"
        print(
            f"{name:34} {r.size / MB:6.1f}MB {r.estimate / MB:7.0f}MB {r.peak / MB:5.0f}MB "
            f"{r.estimate / r.peak:8.2f}{flag}"
        )


def print_walks() -> None:
    configure_vips()
    print()
    print("inspect_image CPU time over floods of tiny blocks:")
    for name, make in hostile_cases().items():
        data = make()
        started = time.process_time()
        try:
            inspect_image(data, max_pixels=100_000_000)
            outcome = "accepted"
        except ImageRejected as exc:
            outcome = str(exc)
        seconds = time.process_time() - started
        print(f"  {name:38} {len(data) / 1e6:5.1f} MB {seconds:6.3f} s  {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="decode only these cases")
    args = parser.parse_args()
    print_walks()
    print_estimates(args.only)


if __name__ == "__main__":
    main()
