"""Profiles one PUT .../media of 20 generated 12 MP JPEGs (and optionally its re-PUT) with
pyinstrument, on the service's event loop thread, and prints the stage times of every source
from the worker threads' point of view.

The service runs in this process (tests.inprocess), so the profile sees the event loop: what
the request does between the awaits, the fetches, the commits. Image work in the worker
threads shows as time spent waiting for them.

    .venv/bin/python bench/profile_media_update.py [--images 20] [--latency 0.2] [--resync]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.media_update import photo
from tests.inprocess import ROUTER, InProcessService
from tests.source_server import SourceServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--resync", action="store_true", help="profile the re-PUT instead")
    args = parser.parse_args()
    files = [photo(i) for i in range(args.images)]

    with tempfile.TemporaryDirectory() as tmp, SourceServer(latency=args.latency) as source:
        urls = [
            source.add(f"/p{i}.jpg", body, headers={"ETag": f'"{i}"'}, not_modified_for=f'"{i}"')
            for i, body in enumerate(files)
        ]
        service = InProcessService(Path(tmp) / "data").start()
        try:
            store_id, token = service.new_store()
            with service.client(token, timeout=300) as api:
                product = api.post(f"/api/v3/{store_id}/products", json={"name": "P"}).json()
                body = {
                    "mainMedia": {"imageUrl": urls[0]},
                    "galleryMedia": [{"imageUrl": url} for url in urls[1:]],
                }
                path = f"/api/v3/{store_id}/products/{product['id']}/media"
                if args.resync:
                    api.put(path, json=body).raise_for_status()
                # The event loop runs in the blocking portal's thread; pyinstrument samples
                # the thread that starts it.
                portal = ROUTER._apps[service.url]._portal  # type: ignore[attr-defined]
                profiler = Profiler(async_mode="disabled", interval=0.0005)
                portal.call(profiler.start)
                started = time.perf_counter()
                api.put(path, json=body).raise_for_status()
                wall = time.perf_counter() - started
                portal.call(profiler.stop)
        finally:
            service.stop()
    print(f"PUT: {wall:.2f} s")
    print(profiler.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
