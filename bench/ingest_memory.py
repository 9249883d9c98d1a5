"""Peak memory of the real server while it ingests legitimate images, measured from outside.

Three cases, each on a freshly started server with the default settings (a decode budget of
1 GB, `PRODUCT_MEDIA_DECODE_MEMORY`):

- one PUT of one 100-megapixel baseline JPEG (target: at most 100 MB above idle);
- one PUT of the same image as a progressive JPEG, whose decoder keeps every coefficient
  (target: at most 400 MB above idle);
- 8 PUTs at once, each of 20 different 12 MP photos, each PUT in a store of its own so that
  nothing is reused (target: within the decode budget plus 300 MB above idle).

Memory is the server process's resident set from /proc/<pid>/status: VmRSS once idle after
start, then VmRSS sampled every 20 ms while the requests run and the kernel's own high-water
mark (VmHWM) after them; the peak is the higher of the two.

    .venv/bin/python bench/ingest_memory.py [--puts 8] [--images 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hostile_memory import Sampler, gradient, memory
from bench.media_update import photo
from tests.service import loopback_service
from tests.source_server import SourceServer

MB = 1024 * 1024
DECODE_BUDGET = 1_073_741_824


def peak_above_idle(puts: list[list[str]], data: Path) -> tuple[int, int, float]:
    """(idle RSS, peak RSS above idle, seconds) of a fresh server running `puts` at once, each
    a gallery of those URLs in a store of its own."""
    service = loopback_service(data).start()
    try:
        assert service.process is not None
        pid = service.process.pid
        targets = []
        for _ in puts:
            store_id, token = service.new_store()
            with service.client(token) as api:
                product = api.post(f"/api/v3/{store_id}/products", json={"name": "M"}).json()
            targets.append((store_id, token, product["id"]))
        time.sleep(1)  # settle after start before the idle reading
        idle = memory(pid)["VmRSS"]
        sampler = Sampler(pid)
        sampler.start()

        def put(i: int) -> None:
            store_id, token, product_id = targets[i]
            with service.client(token, timeout=600) as api:
                response = api.put(
                    f"/api/v3/{store_id}/products/{product_id}/media",
                    json={"galleryMedia": [{"imageUrl": url} for url in puts[i]]},
                )
            response.raise_for_status()
            failed = [r for r in response.json()["galleryMedia"] if not r["success"]]
            assert not failed, failed

        started = time.perf_counter()
        with ThreadPoolExecutor(len(puts)) as pool:
            list(pool.map(put, range(len(puts))))
        wall = time.perf_counter() - started
        peak = max(sampler.finish(), memory(pid)["VmHWM"])
    finally:
        service.stop()
    return idle, peak - idle, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=8)
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()

    print("generating a 10000x10000 image and 12 MP photos ...", flush=True)
    big = gradient(10_000, 10_000)
    baseline = bytes(big.jpegsave_buffer(Q=90))
    progressive = bytes(big.jpegsave_buffer(Q=85, interlace=True))
    photos = [photo(i) for i in range(args.images)]

    rows = []
    with tempfile.TemporaryDirectory() as tmp, SourceServer() as source:
        cases = [
            ("100 MP baseline JPEG, 1 PUT", [[source.add("/baseline.jpg", baseline)]], 100 * MB),
            (
                "100 MP progressive JPEG, 1 PUT",
                [[source.add("/progressive.jpg", progressive)]],
                400 * MB,
            ),
            (
                f"{args.puts} PUTs at once of {args.images} x 12 MP",
                [
                    [source.add(f"/{p}/{i}.jpg", body) for i, body in enumerate(photos)]
                    for p in range(args.puts)
                ],
                DECODE_BUDGET + 300 * MB,
            ),
        ]
        for n, (label, puts, limit) in enumerate(cases):
            idle, above, wall = peak_above_idle(puts, Path(tmp) / f"data{n}")
            rows.append((label, idle, above, limit, wall))

    print("peak RSS of the server process above idle (sampled VmRSS every 20 ms, and VmHWM)")
    print(f"{'case':40} {'idle MB':>8} {'peak-idle MB':>13} {'limit MB':>9} {'wall s':>7}")
    for label, idle, above, limit, wall in rows:
        verdict = "ok" if above <= limit else "OVER"
        print(
            f"{label:40} {idle / MB:8.0f} {above / MB:13.0f} {limit / MB:9.0f} {wall:7.2f} "
            f"{verdict}"
        )


if __name__ == "__main__":
    main()
