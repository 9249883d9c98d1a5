"""Decode-memory estimates against measured peaks, for every format and way of decoding.

Each file is inspected and rendered in a fresh process, which reports the estimate
(decode_bytes) and its peak resident memory (VmHWM, reset just before) beyond what it held
before. 16 megapixels make the decode stand well above the noise of the process itself, and
bench/decode_estimates.py prints the same at 100 megapixels.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import media_factory as mf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/clear_refs").exists(), reason="reads peak memory from Linux /proc"
    ),
]

MB = 1024 * 1024
SQUARE = (4000, 4000)
# As many pixels, eight times as wide: PNG and GIF decodes hold full-width rows.
WIDE = (32_000, 500)
WIDE_CASES = ("png", "png-16-bit-alpha", "gif")

_CHILD = """
import json, sys
from pathlib import Path
from product_media.ingest.images import configure_vips, inspect_image, render_image

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0]) * 1024
    raise LookupError(field)

configure_vips()
data = Path(sys.argv[1]).read_bytes()
Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS
before = status("VmRSS")
inspected = inspect_image(data, max_pixels=100_000_000)
render_image(data, inspected)
print(json.dumps({"estimate": inspected.decode_bytes, "peak": status("VmHWM") - before}))
"""


@dataclass(frozen=True)
class Measured:
    size: int
    estimate: int
    peak: int


def measure(path: Path) -> Measured:
    """Decode the file at `path` alone in a new process: its estimate and measured peak."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(done.stdout)
    return Measured(path.stat().st_size, result["estimate"], result["peak"])


def measure_all(makers: dict[str, Callable[[], bytes]], folder: Path) -> dict[str, Measured]:
    """Make and measure every file, two at a time (the decodes are single-threaded)."""

    def one(item: tuple[str, Callable[[], bytes]]) -> tuple[str, Measured]:
        name, make = item
        path = folder / name
        path.write_bytes(make())
        try:
            return name, measure(path)
        finally:
            path.unlink()

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(one, makers.items()))


def cases() -> dict[str, Callable[[], bytes]]:
    wide = mf.large_images(*WIDE)
    return mf.large_images(*SQUARE) | {f"wide-{name}": wide[name] for name in WIDE_CASES}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Measured]:
    return measure_all(cases(), tmp_path_factory.mktemp("decode-estimates"))


@pytest.mark.parametrize("case", list(cases()))
def test_the_estimate_covers_the_measured_peak(case: str, measured: dict[str, Measured]) -> None:
    result = measured[case]
    assert result.estimate >= result.peak, (
        f"{case}: estimated {result.estimate / MB:.0f} MB, measured {result.peak / MB:.0f} MB"
    )
