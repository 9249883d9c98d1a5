"""Peak memory of the real server fed hostile files, beside legitimate large images.

Each batch runs on a freshly started server with the default limits (20 MB, 100 megapixels):
several PUT .../media requests at once, each for another product, each gallery holding every
file of the batch under URLs of its own. Memory comes from /proc/<pid>/status of the server
process: VmRSS once idle after start, VmHWM (the kernel's own peak) before and after the batch,
and VmRSS sampled every 20 ms while the batch runs.

The hostile batch holds pixel bombs of each format, thousand-frame animations, a gzip bomb,
an endless body, a progressive JPEG scan bomb, a legitimate 10000x10000 JPEG and a flat (tiny)
progressive one. The endless batch holds nothing but endless bodies, as many at once as the
server downloads at once (32 by default). The legitimate batch holds 100-megapixel JPEG
(baseline and progressive), PNG and WebP images and a 12-megapixel photo. `--each` also runs
every hostile and legitimate file alone, one server each.

    .venv/bin/python bench/hostile_memory.py [--concurrent 4] [--each]
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.media_factory import (
    gif_bomb,
    gif_frames,
    jpeg_bomb,
    png_bomb,
    progressive_scan_bomb,
    webp_bomb,
    webp_frames,
    webp_lossy_bomb,
)
from tests.service import loopback_service
from tests.source_server import SourceServer

MB = 1024 * 1024
SAMPLE_EVERY = 0.02


def gradient(width: int, height: int) -> pyvips.Image:
    """Smooth colour ramps: large in pixels, small enough as a file to pass the 20 MB limit."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    r, g, b = x * (255 / width), y * (255 / height), (x + y) * (255 / (width + height))
    return r.bandjoin([g, b]).cast("uchar").copy(interpretation="srgb")


def photo(width: int = 4000, height: int = 3000) -> bytes:
    """A photo-like JPEG: the ramps with grain, which makes it compress like a real photo."""
    grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0)
    return bytes((gradient(width, height) + grain).cast("uchar").jpegsave_buffer(Q=90))


@dataclass(frozen=True)
class Source:
    """How one file is served: a body with headers, or endlessly."""

    body: bytes = b""
    headers: dict[str, str] | None = None
    endless: bool = False

    def serve(self, server: SourceServer, path: str) -> str:
        if self.endless:
            return server.endless(path, b"\xff\xd8\xff" * 21_845)
        return server.add(path, self.body, headers=self.headers)


def hostile_files() -> dict[str, Source]:
    print("generating hostile files ...", flush=True)
    return {
        "jpeg-bomb-65000x65000": Source(jpeg_bomb(65_000, 65_000)),
        "png-bomb-60000x60000": Source(png_bomb(60_000, 60_000)),
        "gif-bomb-65000x65000": Source(gif_bomb(65_000, 65_000)),
        "webp-bomb-16383x16383": Source(webp_bomb(16_383, 16_383)),
        "webp-lossy-bomb-16383x16383": Source(webp_lossy_bomb(16_383, 16_383)),
        "gif-3000-frames": Source(gif_frames(64, 48, 3000)),
        "gif-3000-frames-20000x20000-screen": Source(
            gif_frames(64, 48, 3000, screen=(20_000, 20_000))
        ),
        "webp-10000-frames": Source(webp_frames(64, 48, 10_000)),
        "webp-3000-frames-16383x16383-canvas": Source(
            webp_frames(64, 48, 3000, canvas=(16_383, 16_383))
        ),
        "jpeg-883-scans-10000x10000": Source(progressive_scan_bomb(10_000, 10_000)),
        "gzip-bomb-1GB": Source(
            gzip.compress(bytes(10_000_000)) * 100, headers={"Content-Encoding": "gzip"}
        ),
        "endless-body": Source(endless=True),
        "jpeg-10000x10000": Source(bytes(gradient(10_000, 10_000).jpegsave_buffer(Q=90))),
        # Within every limit, yet progressive: decoding keeps every coefficient of the image.
        "jpeg-progressive-flat-10000x10000": Source(
            bytes(
                (pyvips.Image.black(10_000, 10_000, bands=3) + 128)
                .cast("uchar")
                .jpegsave_buffer(Q=95, interlace=True, subsample_mode="off")
            )
        ),
        # Adam7 interlacing makes the decoder keep every 16-bit sample of all four bands.
        "png-16-bit-rgba-interlaced-flat-10000x10000": Source(
            bytes(
                (pyvips.Image.black(10_000, 10_000, bands=4) + 30000)
                .cast("ushort")
                .copy(interpretation="rgb16")
                .pngsave_buffer(compression=9, interlace=True)
            )
        ),
        # Lossless WebP decodes into a whole RGBA canvas.
        "webp-lossless-flat-16383x6103": Source(
            bytes(
                (pyvips.Image.black(16_383, 6_103, bands=3) + 90)
                .cast("uchar")
                .copy(interpretation="srgb")
                .webpsave_buffer(lossless=True)
            )
        ),
    }


def endless_files() -> dict[str, Source]:
    return {f"endless-body-{i}": Source(endless=True) for i in range(8)}


def legitimate_files() -> dict[str, Source]:
    print("generating legitimate files ...", flush=True)
    big = gradient(10_000, 10_000)
    return {
        "jpeg-10000x10000": Source(bytes(big.jpegsave_buffer(Q=90))),
        "jpeg-progressive-10000x10000": Source(bytes(big.jpegsave_buffer(Q=85, interlace=True))),
        "png-10000x10000": Source(bytes(big.pngsave_buffer(compression=6))),
        "webp-10000x10000": Source(bytes(big.webpsave_buffer(Q=80))),
        "jpeg-photo-4000x3000": Source(photo()),
    }


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process `pid`, in bytes."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


class Sampler(threading.Thread):
    """Reads VmRSS of `pid` every SAMPLE_EVERY seconds, keeping the highest value."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._stop_event = threading.Event()
        self.peak = memory(pid)["VmRSS"]

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, memory(self._pid)["VmRSS"])

    def finish(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, memory(self._pid)["VmRSS"])


@dataclass(frozen=True)
class Result:
    batch: str
    items: int
    succeeded: int
    wall: float
    idle_rss: int
    hwm_before: int
    hwm_after: int
    sampled_peak: int
    reasons: dict[str, str]


def run_batch(
    label: str, files: dict[str, Source], concurrent: int, source: SourceServer, data: Path
) -> Result:
    """A fresh server, `concurrent` PUTs at once each holding every file of `files`."""
    service = loopback_service(data).start()
    try:
        assert service.process is not None
        pid = service.process.pid
        store_id, token = service.new_store()
        with service.client(token, timeout=600) as api:
            products = [
                api.post(f"/api/v3/{store_id}/products", json={"name": f"P{i}"}).json()["id"]
                for i in range(concurrent)
            ]
            galleries = [
                [
                    {"imageUrl": file.serve(source, f"/{label}/{i}/{name}")}
                    for name, file in files.items()
                ]
                for i in range(concurrent)
            ]
            time.sleep(1)  # let the server settle after start before the idle reading
            idle = memory(pid)
            sampler = Sampler(pid)
            sampler.start()

            def put(i: int) -> list[dict[str, Any]]:
                response = api.put(
                    f"/api/v3/{store_id}/products/{products[i]}/media",
                    json={"galleryMedia": galleries[i]},
                )
                response.raise_for_status()
                results: list[dict[str, Any]] = response.json()["galleryMedia"]
                return results

            started = time.perf_counter()
            with ThreadPoolExecutor(concurrent) as pool:
                outcomes = list(pool.map(put, range(concurrent)))
            wall = time.perf_counter() - started
            peak = sampler.finish()
            after = memory(pid)
    finally:
        service.stop()
    reasons = {
        name: "ok" if result["success"] else result["errorMessage"].partition(": ")[2]
        for name, result in zip(files, outcomes[0], strict=True)
    }
    return Result(
        batch=label,
        items=sum(len(o) for o in outcomes),
        succeeded=sum(r["success"] for o in outcomes for r in o),
        wall=wall,
        idle_rss=idle["VmRSS"],
        hwm_before=idle["VmHWM"],
        hwm_after=after["VmHWM"],
        sampled_peak=peak,
        reasons=reasons,
    )


def print_table(results: list[Result]) -> None:
    header = (
        f"{'batch':48} {'items':>5} {'ok':>4} {'wall s':>7} {'idle RSS':>9} "
        f"{'HWM before':>10} {'HWM after':>10} {'sampled':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.batch:48} {r.items:5d} {r.succeeded:4d} {r.wall:7.1f} "
            f"{r.idle_rss / MB:7.0f}MB {r.hwm_before / MB:8.0f}MB {r.hwm_after / MB:8.0f}MB "
            f"{r.sampled_peak / MB:6.0f}MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=4, help="PUT requests at once")
    parser.add_argument("--each", action="store_true", help="also run every file alone")
    args = parser.parse_args()

    batches: list[tuple[str, Callable[[], dict[str, Source]]]] = [
        ("hostile", hostile_files),
        ("endless", endless_files),
        ("legitimate", legitimate_files),
    ]
    results: list[Result] = []
    singles: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp, SourceServer() as source:
        for label, make in batches:
            files = make()
            print(f"{label}: {args.concurrent} x {len(files)} items ...", flush=True)
            result = run_batch(label, files, args.concurrent, source, Path(tmp) / label)
            results.append(result)
            for name, reason in result.reasons.items():
                size = len(files[name].body) if not files[name].endless else 0
                shown = f"{size / 1000:9.0f} kB" if size else "  endless"
                print(f"  {name:42} {shown}  {reason}")
            if args.each and label != "endless":
                for name, file in files.items():
                    data = Path(tmp) / f"{label}-{name}"
                    singles.append(run_batch(f"{label}/{name}", {name: file}, 1, source, data))
    print()
    print(
        f"server process memory ({args.concurrent} concurrent PUTs per batch, "
        f"{os.environ.get('PRODUCT_MEDIA_PROCESS_THREADS') or os.cpu_count()} image workers, "
        f"decode memory {os.environ.get('PRODUCT_MEDIA_DECODE_MEMORY', 'default')}):"
    )
    print_table(results)
    if singles:
        print()
        print("each file alone (one PUT, one item):")
        print_table(singles)


if __name__ == "__main__":
    main()
