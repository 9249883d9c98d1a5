"""Fair shares, deadlines and shutdown of the real server, in seconds.

The abuse is the issue's: one store sends 8 PUT .../media of 100 gallery URLs each, every
source dripping one byte every 5 s, and holds the connections open. The figures:

- another store's PUT of one small image, on an idle server and during the abuse;
- once the abuser's client disconnects, how long until the server fetches none of its sources;
- with PRODUCT_MEDIA_UPDATE_TIMEOUT=2, a PUT of one dripping and one good source;
- with PRODUCT_MEDIA_SHUTDOWN_TIMEOUT=2, SIGTERM to exit while a PUT drips.

    .venv/bin/python bench/fairness.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.media_factory import jpeg
from tests.source_server import SourceServer
from tests.test_fairness_http import (
    Abuse,
    fairness_service,
    new_product,
    send_and_hold,
    small_image_put,
    sources_in_flight,
    timed_put,
    wait_for,
)


def _figures(times: list[float]) -> str:
    return f"median {statistics.median(times):6.2f} s, max {max(times):6.2f} s"


def fairness(data: Path, source: SourceServer, rounds: int) -> None:
    service = fairness_service(data).start()
    try:
        idle = [small_image_put(service, source, f"idle{i}")[0] for i in range(rounds)]
        print(f"another store's one-image PUT, idle server:   {_figures(idle)}")
        abuse = Abuse(service, source)
        wait_for(lambda: abuse.hits() >= 8, 30, "the abusive updates started")
        busy = [small_image_put(service, source, f"busy{i}")[0] for i in range(rounds)]
        print(f"  the same during the abuse:                  {_figures(busy)}")
        print(f"  sources the server fetches for the abuser:  {sources_in_flight(service):6.0f}")
        abuse.leave()
        left = time.monotonic()
        stopped = wait_for(lambda: sources_in_flight(service) == 0, 60, "the fetches stopped")
        hits = abuse.hits()
        time.sleep(5)
        print(f"abuser disconnected -> its fetches stopped:   {stopped:6.2f} s")
        print(
            f"  its sources fetched in the {time.monotonic() - left:.0f} s after it left: "
            f"{abuse.hits() - hits} more (of {len(abuse.paths)})"
        )
    finally:
        service.stop()


def deadline(data: Path, source: SourceServer) -> None:
    service = fairness_service(data, PRODUCT_MEDIA_UPDATE_TIMEOUT="2").start()
    try:
        good = source.add("/deadline/good.jpg", jpeg(160, 120))
        slow = source.drip("/deadline/slow.jpg", b"\xff" * 1000, 0.5)
        store_id, token = service.new_store()
        with service.client(token) as client:
            product = new_product(client, store_id)
        body = {"mainMedia": {"imageUrl": good}, "galleryMedia": [{"imageUrl": slow}]}
        elapsed, answer = timed_put(service, token, f"{product}/media", body)
        print(f"UPDATE_TIMEOUT=2, one source dripping:        {elapsed:6.2f} s")
        print(f"  its result: {answer['galleryMedia'][0]['errorMessage']}")
    finally:
        service.stop()


def shutdown(data: Path, source: SourceServer) -> None:
    service = fairness_service(data, PRODUCT_MEDIA_SHUTDOWN_TIMEOUT="2").start()
    try:
        slow = source.drip("/shutdown/slow.jpg", b"\xff" * 1000, 0.5)
        store_id, token = service.new_store()
        with service.client(token) as client:
            product = new_product(client, store_id)
        connection = send_and_hold(
            service, token, f"{product}/media", {"galleryMedia": [{"imageUrl": slow}]}
        )
        wait_for(lambda: source.hits("/shutdown/slow.jpg") > 0, 30, "the source is fetched")
        assert service.process is not None
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        service.process.wait(timeout=120)
        print(f"SHUTDOWN_TIMEOUT=2, SIGTERM to exit:          {time.monotonic() - started:6.2f} s")
        connection.close()
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="PUTs timed per figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SourceServer() as source:
        fairness(Path(tmp) / "fairness", source, args.rounds)
        deadline(Path(tmp) / "deadline", source)
        shutdown(Path(tmp) / "shutdown", source)


if __name__ == "__main__":
    main()
