"""One store cannot starve the others; updates have a deadline; work for a client that has
gone stops; SIGTERM stops the server on time and leaves nothing behind.

The first test runs the app in this process on fakes. The others run `product-media serve`
as a subprocess against sources that drip one byte at a time. A bound on time is five times
its target, so that a slow machine cannot fail them; bench/fairness.py prints the real
figures.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.types import Message

from product_media.api.app import create_app
from product_media.settings import Settings
from tests.fakes import FakeDeployment
from tests.media_factory import jpeg
from tests.service import Service
from tests.source_server import SourceServer
from tests.test_crash_safety import SETTLED, _leases, _leftovers

# "A few seconds": the most one store's load may delay another store's one-image update.
FAIR_TARGET = 2.0
UPDATE_TIMEOUT = 2.0
SHUTDOWN_TIMEOUT = 2.0
BOUND = 5  # each time bound is this many times its target
# The abuse: eight updates of a hundred sources that drip a byte every five seconds.
ABUSE_UPDATES, ABUSE_SOURCES, DRIP_INTERVAL = 8, 100, 5.0


# -- on fakes, in this process ----------------------------------------------------------------


def test_an_update_whose_client_leaves_stops_and_leaves_nothing(tmp_path: Path) -> None:
    deployment = FakeDeployment()
    catalog, blobs, fetcher, store = (
        deployment.catalog,
        deployment.blobs,
        deployment.fetcher,
        deployment.store,
    )
    product = catalog.create_product(store, "Lamp", None, 1)
    fast, stuck = "https://shop.example/fast.jpg", "https://shop.example/stuck.jpg"
    fetcher.files[fast] = jpeg(100, 80)
    written = threading.Event()
    blobs.fail_put = lambda key: written.set() or False  # type: ignore[func-returns-value]
    fetch_cancelled: list[bool] = []

    async def never() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            fetch_cancelled.append(True)

    fetcher.hooks[stuck] = never
    app = create_app(Settings(data=tmp_path), deployment.adapters)
    body = json.dumps({"mainMedia": {"imageUrl": fast}, "galleryMedia": [{"imageUrl": stuck}]})
    path = f"/api/v3/{store}/products/{product}/media"
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"authorization", f"Bearer {deployment.token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("test", 80),
    }
    sent: list[Message] = []

    async def main() -> None:
        messages: list[Message] = [{"type": "http.request", "body": body.encode()}]

        async def receive() -> Message:
            if messages:
                return messages.pop(0)
            # The client leaves once the fast source's files are written.
            await anyio.to_thread.run_sync(written.wait, 10)
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        async with app.router.lifespan_context(app):
            with anyio.fail_after(10):
                await app(scope, receive, send)

    anyio.run(main)
    assert fetch_cancelled == [True], "the stuck download was stopped"
    assert blobs.puts, "the fast source's files were written before the client left"
    assert catalog.products[product].media.main_image is None, "nothing was committed"
    assert catalog.claims == {} and catalog.marks == {}
    assert blobs.blobs == {}, "what the update wrote was deleted"
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] in ([], [499])


# -- against the real server ------------------------------------------------------------------


def fairness_service(data: Path, **env: str) -> Service:
    """`serve` with default limits, allowed to fetch from 127.0.0.1, rate limit off."""
    return Service(
        data,
        "--allow-source-network",
        "127.0.0.1/32",
        env={"PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0", **env},
    )


def new_product(client: httpx.Client, store_id: int) -> str:
    response = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
    assert response.status_code == 200, response.text
    return f"/api/v3/{store_id}/products/{response.json()['id']}"


def send_and_hold(service: Service, token: str, path: str, body: dict[str, Any]) -> socket.socket:
    """Send a PUT and return its open connection, unread: closing it is the client leaving."""
    content = json.dumps(body).encode()
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(content)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    sock.sendall(head.encode() + content)
    return sock


def sources_in_flight(service: Service) -> float:
    """The server's own count of sources being downloaded or processed."""
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    found = re.search(r"^product_media_sources_in_flight (\S+)$", text, re.MULTILINE)
    assert found is not None, "the gauge is exported"
    return float(found.group(1))


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll `condition` until it holds; returns how long that took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} within {seconds:g} s"
        time.sleep(0.05)
    return time.monotonic() - started


class Abuse:
    """A store that sends ABUSE_UPDATES updates of ABUSE_SOURCES dripping sources each and
    holds the connections open until `leave()`."""

    def __init__(self, service: Service, source: SourceServer) -> None:
        self.paths = [f"/drip/{i}.jpg" for i in range(ABUSE_UPDATES * ABUSE_SOURCES)]
        urls = [source.drip(path, b"\xff" * 1000, DRIP_INTERVAL) for path in self.paths]
        self._source = source
        store_id, self.token = service.new_store()
        with service.client(self.token) as client:
            self.products = [new_product(client, store_id) for _ in range(ABUSE_UPDATES)]
        self._connections = [
            send_and_hold(
                service,
                self.token,
                f"{product}/media",
                {
                    "galleryMedia": [
                        {"imageUrl": url}
                        for url in urls[i * ABUSE_SOURCES : (i + 1) * ABUSE_SOURCES]
                    ]
                },
            )
            for i, product in enumerate(self.products)
        ]

    def hits(self) -> int:
        return sum(self._source.hits(path) for path in self.paths)

    def leave(self) -> None:
        for connection in self._connections:
            connection.close()


def timed_put(service: Service, token: str, path: str, body: dict[str, Any]) -> tuple[float, Any]:
    with service.client(token, timeout=120) as client:
        started = time.monotonic()
        response = client.put(path, json=body)
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    return elapsed, response.json()


def small_image_put(service: Service, source: SourceServer, name: str) -> tuple[float, Any]:
    """Another store's update of one small image: how long it takes, and its answer."""
    url = source.add(f"/small/{name}.jpg", jpeg(160, 120))
    store_id, token = service.new_store()
    with service.client(token) as client:
        product = new_product(client, store_id)
    return timed_put(service, token, f"{product}/media", {"mainMedia": {"imageUrl": url}})


@pytest.fixture
def source() -> Iterator[SourceServer]:
    with SourceServer("127.0.0.1") as server:
        yield server


@pytest.mark.slow
def test_one_store_cannot_starve_another_and_its_work_stops_when_it_leaves(
    tmp_path: Path, source: SourceServer
) -> None:
    service = fairness_service(tmp_path / "data").start()
    try:
        abuse = Abuse(service, source)
        # As many of the abuser's sources as the server will fetch at once for one store (8 by
        # default, of 32 for all stores) are dripping.
        wait_for(lambda: abuse.hits() >= 8, 30, "the abusive updates started")
        elapsed, answer = small_image_put(service, source, "fair")
        assert answer["mainMedia"]["success"] is True
        assert elapsed < BOUND * FAIR_TARGET, f"another store's update took {elapsed:.1f} s"

        abuse.leave()
        wait_for(lambda: sources_in_flight(service) == 0, 10, "the abuser's fetches stopped")
        hits = abuse.hits()
        time.sleep(3)
        assert abuse.hits() == hits, "no source of the abuser is fetched after it left"
        with service.client(abuse.token) as client:
            assert all(client.get(p).json()["galleryImages"] == [] for p in abuse.products)
        assert _leftovers(tmp_path / "data") == SETTLED
    finally:
        service.stop()


@pytest.mark.slow
def test_an_update_ends_by_its_deadline_with_what_it_got(
    tmp_path: Path, source: SourceServer
) -> None:
    service = fairness_service(
        tmp_path / "data", PRODUCT_MEDIA_UPDATE_TIMEOUT=f"{UPDATE_TIMEOUT:g}"
    ).start()
    try:
        good = source.add("/deadline/good.jpg", jpeg(160, 120))
        slow = source.drip("/deadline/slow.jpg", b"\xff" * 1000, 0.5)
        store_id, token = service.new_store()
        with service.client(token) as client:
            product = new_product(client, store_id)
        body = {"mainMedia": {"imageUrl": good}, "galleryMedia": [{"imageUrl": slow}]}
        elapsed, answer = timed_put(service, token, f"{product}/media", body)
        assert elapsed < BOUND * UPDATE_TIMEOUT, f"the update took {elapsed:.1f} s"
        assert answer == {
            "mainMedia": {"success": True, "id": "0"},
            "galleryMedia": [
                {
                    "success": False,
                    "errorCode": "DOWNLOAD_IMAGE_FAILED",
                    "errorMessage": f"{slow}: not done within the media update's 2 s limit",
                }
            ],
        }
        with service.client(token) as client:
            shown = client.get(product).json()
        assert shown["originalImageUrl"] and shown["galleryImages"] == []
        assert _leftovers(tmp_path / "data") == SETTLED
    finally:
        service.stop()


@pytest.mark.slow
def test_sigterm_stops_the_server_on_time_and_leaves_nothing(
    tmp_path: Path, source: SourceServer
) -> None:
    data = tmp_path / "data"
    service = fairness_service(data, PRODUCT_MEDIA_SHUTDOWN_TIMEOUT=f"{SHUTDOWN_TIMEOUT:g}").start()
    try:
        good = source.add("/shutdown/good.jpg", jpeg(160, 120))
        slow = source.drip("/shutdown/slow.jpg", b"\xff" * 1000, 0.5)
        store_id, token = service.new_store()
        with service.client(token) as client:
            product = new_product(client, store_id)
            before = client.get(product).json()
        body = {"mainMedia": {"imageUrl": good}, "galleryMedia": [{"imageUrl": slow}]}
        connection = send_and_hold(service, token, f"{product}/media", body)
        # The good source's files are written (and claimed) while the other one drips.
        wait_for(lambda: _leftovers(data)["claims"] > 0, 30, "the update wrote its first files")
        wait_for(lambda: source.hits("/shutdown/slow.jpg") > 0, 30, "the slow source is fetched")

        assert service.process is not None
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        service.process.wait(timeout=60)
        stopped = time.monotonic() - started
        connection.close()
        assert stopped < BOUND * SHUTDOWN_TIMEOUT, f"SIGTERM took {stopped:.1f} s"
        # Uvicorn raises the signal again once it has shut down.
        assert service.process.returncode in (0, -signal.SIGTERM)
        # The stopped update cleaned up before the lease ended: no sweep is needed at all.
        assert _leftovers(data) == SETTLED
        assert _leases(data)[0] == 0, "the lease ended with the process"

        service.start()
        with service.client(token) as client:
            assert client.get(product).json() == before
        assert _leftovers(data) == SETTLED
    finally:
        service.stop()
