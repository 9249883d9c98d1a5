"""Times one PUT .../media of 20 generated 12 MP JPEGs through the real server.

The source adds 200 ms of latency to every response. Beside the wall time of the PUT it
prints, measured in the same run, the sum of its parts done one after another: the latency
alone (20 requests for an empty file, one by one), and processing the 20 images on one thread.

    .venv/bin/python bench/media_update.py [--images 20] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyvips

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.service import loopback_service
from tests.source_server import SourceServer

from product_media.ingest.images import configure_vips, process_image


def photo(index: int, width: int = 4000, height: int = 3000) -> bytes:
    """A photo-like 12 MP JPEG: smooth gradients with a little grain, different per index."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    r = (x * (255 / width) + index * 11) % 256
    g = (y * (255 / height) + index * 23) % 256
    b = ((x + y) * (255 / (width + height)) + index * 37) % 256
    grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0)
    image = (r.bandjoin([g, b]) + grain).cast("uchar")
    return bytes(image.jpegsave_buffer(Q=90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()

    print(f"generating {args.images} JPEGs of 4000x3000 ...", flush=True)
    files = [photo(i) for i in range(args.images)]
    print(f"  sizes {min(map(len, files)) / 1e6:.1f}-{max(map(len, files)) / 1e6:.1f} MB")

    with tempfile.TemporaryDirectory() as tmp, SourceServer(latency=args.latency) as source:
        urls = [source.add(f"/p{i}.jpg", body) for i, body in enumerate(files)]
        service = loopback_service(Path(tmp) / "data").start()
        try:
            store_id, token = service.new_store()
            with service.client(token, timeout=300) as api:
                product = api.post(f"/api/v3/{store_id}/products", json={"name": "Bench"}).json()
                body = {
                    "mainMedia": {"imageUrl": urls[0]},
                    "galleryMedia": [{"imageUrl": url} for url in urls[1:]],
                }
                started = time.perf_counter()
                response = api.put(f"/api/v3/{store_id}/products/{product['id']}/media", json=body)
                wall = time.perf_counter() - started
            response.raise_for_status()
            results = [response.json()["mainMedia"], *response.json()["galleryMedia"]]
            failed = [r for r in results if not r["success"]]
            assert not failed, failed
        finally:
            service.stop()

        empty = source.add("/empty", b"")
        started = time.perf_counter()
        with httpx.Client() as client:
            for _ in urls:
                client.get(empty).raise_for_status()
        latency = time.perf_counter() - started

    configure_vips(threads=1)
    started = time.perf_counter()
    for body in files:
        process_image(body, max_pixels=100_000_000)
    processing = time.perf_counter() - started

    parts = latency + processing
    print(f"PUT of {args.images} images, wall time:   {wall:6.2f} s")
    print(f"  latency alone, {len(urls)} requests in a row: {latency:6.2f} s")
    print(f"  processing on one thread:        {processing:6.2f} s")
    print(f"  sum of the parts:                {parts:6.2f} s")
    print(f"  speed-up over the sum:           {parts / wall:6.1f}x")


if __name__ == "__main__":
    main()
