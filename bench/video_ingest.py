"""Time and peak memory of the real server ingesting video files of several sizes.

Each size gets a freshly started server (`product-media serve`, the default limits) that is
sent one POST .../video naming a 1080p H.264 MP4 on a local source server. The file is made
with PyAV from frames of noise at a high bitrate, so its size follows its duration (about
1.7 MB a second; the 60 s file is about 100 MB). The server's own log line for the file gives
the stages: the download (over loopback), probing plus the cover (PyAV, then libvips), and
storing (a link into the blob folder, or a multipart upload with --s3). Memory comes from
/proc/<pid>/status of the server process: VmRSS once idle, VmRSS sampled every 20 ms while the
request runs, and VmHWM (the kernel's own peak) after it.

    .venv/bin/python bench/video_ingest.py [--seconds 15,60] [--s3]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hostile_memory import MB, Sampler, memory
from tests.s3_server import AWS_ENV, fresh_bucket_name, moto_server
from tests.service import Service
from tests.source_server import SourceServer

FPS = 25
BITRATE = 13_200_000
_STAGES = re.compile(
    r"video file (?P<key>\S+) .*: downloaded in (?P<download>[0-9.]+) s, probed and given a "
    r"cover in (?P<process>[0-9.]+) s, stored in (?P<store>[0-9.]+) s"
)


def make_video(path: Path, seconds: int) -> None:
    """1080p H.264 at BITRATE: frames of noise (a pool of ten, in turn), which no encoder can
    shrink below the bitrate."""
    rng = np.random.default_rng(seconds)
    pool = [
        av.VideoFrame.from_ndarray(
            rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        for _ in range(10)
    ]
    with av.open(str(path), "w", format="mp4") as muxer:
        stream = muxer.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.bit_rate = BITRATE
        stream.codec_context.gop_size = 2 * FPS
        stream.options = {"preset": "ultrafast"}
        for index in range(seconds * FPS):
            frame = pool[index % len(pool)]
            frame.pts = index
            muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))


@dataclass(frozen=True)
class Result:
    seconds: int
    size: int
    wall: float
    download: float
    process: float
    store: float
    idle_rss: int
    sampled_peak: int
    hwm_after: int


def run(path: Path, seconds: int, source: SourceServer, data: Path, env: dict[str, str]) -> Result:
    content = path.read_bytes()
    url = source.add(f"/{path.name}", content)
    del content
    service = Service(
        data,
        "--allow-source-network",
        "127.0.0.1/32",
        env={"PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0", **env},
    ).start()
    try:
        assert service.process is not None
        pid = service.process.pid
        store_id, token = service.new_store()
        with service.client(token, timeout=900) as api:
            product = api.post(f"/api/v3/{store_id}/products", json={"name": "Clip"}).json()["id"]
            time.sleep(1)  # let the server settle after start before the idle reading
            idle = memory(pid)
            sampler = Sampler(pid)
            sampler.start()
            started = time.perf_counter()
            response = api.post(f"/api/v3/{store_id}/products/{product}/video", json={"url": url})
            wall = time.perf_counter() - started
            peak = sampler.finish()
            after = memory(pid)
            response.raise_for_status()
    finally:
        service.stop()
    match = _STAGES.search(service.log.read_text())
    assert match is not None, "the server logged no stages for the video"
    return Result(
        seconds=seconds,
        size=path.stat().st_size,
        wall=wall,
        download=float(match["download"]),
        process=float(match["process"]),
        store=float(match["store"]),
        idle_rss=idle["VmRSS"],
        sampled_peak=peak,
        hwm_after=after["VmHWM"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--seconds", default="15,60", help="durations of the files, comma-separated"
    )
    parser.add_argument("--s3", action="store_true", help="blobs in a bucket (a moto server)")
    args = parser.parse_args()
    durations = [int(s) for s in args.seconds.split(",")]
    results = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        source = stack.enter_context(SourceServer())
        env: dict[str, str] = {}
        if args.s3:
            endpoint = stack.enter_context(moto_server())
            env = {
                **AWS_ENV,
                "PRODUCT_MEDIA_BLOB_URL": f"s3://{fresh_bucket_name()}/media",
                "PRODUCT_MEDIA_S3_ENDPOINT_URL": endpoint,
            }
        for seconds in durations:
            path = tmp / f"noise-1080p-{seconds}s.mp4"
            print(f"making a {seconds} s 1080p MP4 ...", flush=True)
            make_video(path, seconds)
            print(f"  {path.stat().st_size / 1e6:.1f} MB; ingesting ...", flush=True)
            results.append(run(path, seconds, source, tmp / f"data-{seconds}", env))
    print()
    print(
        f"POST .../video of a 1080p H.264 MP4, one fresh server each, blobs "
        f"{'in a bucket (moto)' if args.s3 else 'in a folder'}, {os.cpu_count()} cores:"
    )
    header = (
        f"{'length':>6} {'size':>8} {'request':>8} {'download':>9} {'probe+cover':>12} "
        f"{'store':>6} {'ingest*':>8} {'idle RSS':>9} {'peak RSS':>9} {'VmHWM':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.seconds:5d}s {r.size / 1e6:6.1f}MB {r.wall:7.2f}s {r.download:8.2f}s "
            f"{r.process:11.2f}s {r.store:5.2f}s {r.process + r.store:7.2f}s "
            f"{r.idle_rss / MB:7.0f}MB {r.sampled_peak / MB:7.0f}MB {r.hwm_after / MB:5.0f}MB"
        )
    print("* ingest: probe + cover + store, the download excluded")


if __name__ == "__main__":
    main()
