"""How long one store's GET waits while others send bodies built to stall the event loop.

Runs `product-media serve` (one worker, the default limits), then times a GET of a product
every 20 ms: first alone, then while four processes send hostile bodies for another store in
a loop: 1 MiB of tiny items ({"galleryMedia": [1, 1, ...]}, [{}, ...], ["", ...], and a
product whose name is [{}, ...]), and the same shapes with as many items as the service
decodes. Prints the GET latency (p50, p95, max) both ways and how long the hostile requests
took to be refused. The goal: no GET over 200 ms.

    .venv/bin/python bench/event_loop.py [--seconds 10] [--senders 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.service import Service
from tests.test_abuse_http import under_hostile_load


def _ms(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50 {1000 * statistics.median(ordered):6.1f} ms   p95 {1000 * p95:6.1f} ms   "
        f"max {1000 * ordered[-1]:6.1f} ms   ({len(ordered)} requests)"
    )


def _product(service: Service) -> tuple[str, str]:
    store_id, token = service.new_store()
    with service.client(token) as client:
        created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
    return f"/api/v3/{store_id}/products/{created.json()['id']}", token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-event-loop-") as folder:
        service = Service(Path(folder), env={"PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0"})
        service.start()
        try:
            hostile, victim = _product(service), _product(service)
            alone = under_hostile_load(service.url, hostile, victim, args.seconds, senders=0)
            loaded = under_hostile_load(
                service.url, hostile, victim, args.seconds, args.senders, processes=True
            )
        finally:
            service.stop()
    statuses = sorted({status for status, _ in loaded.hostile})
    print(f"GET of another store's product, every 20 ms for {args.seconds:g} s")
    print(f"  alone:                         {_ms(alone.gets)}")
    print(f"  beside {args.senders} hostile senders:      {_ms(loaded.gets)}")
    print(f"hostile bodies, answered {statuses}:  {_ms([s for _, s in loaded.hostile])}")


if __name__ == "__main__":
    main()
