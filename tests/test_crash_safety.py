"""SIGKILL at random moments of media updates: every product is entirely before or after, every
URL it shows is served, and what the interrupted updates wrote is cleaned up."""

from __future__ import annotations

import hashlib
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import media_factory
from tests.service import Service, loopback_service
from tests.source_server import SourceServer

ROUNDS = 24
# Big enough that an update spends a while downloading, decoding and writing files.
SIZES = [(1400 + 37 * i, 1000 + 23 * i) for i in range(10)]

Signature = tuple[str | None, tuple[str, ...]]
SETTLED = {"unreferenced": 0, "partial": 0, "claims": 0, "marks": 0}


@pytest.fixture(scope="module")
def slow_sources() -> Iterator[SourceServer]:
    with SourceServer("127.0.0.1", latency=0.1) as server:
        yield server


def _signature(product: dict[str, Any], names: dict[str, str]) -> Signature:
    """Which source images the product shows: main, then gallery, by the hash of the original."""

    def name(url: str) -> str:
        return names[url.rsplit("/", 1)[1].split(".")[0]]

    main = product.get("originalImageUrl")
    gallery = tuple(name(item["originalImageUrl"]) for item in product["galleryImages"])
    return (name(main) if main else None, gallery)


def _shown_urls(product: dict[str, Any]) -> set[str]:
    urls = {value for key, value in product.items() if key.endswith("Url") and value}
    for image in product["media"]["images"]:
        urls.update(value for key, value in image.items() if key.endswith("Url"))
    return urls


def _assert_served(urls: set[str]) -> None:
    with httpx.Client(timeout=30, trust_env=False) as client:
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            digest = url.rsplit("/", 1)[1].split(".")[0]
            assert hashlib.sha256(response.content).hexdigest() == digest, url


def _leftovers(data: Path) -> dict[str, int]:
    """What the catalog does not account for: unreferenced files, temp files, claims, marks."""
    media = data / "media"
    files = {path.name for path in media.glob("??/??/*")}
    with sqlite3.connect(data / "catalog.db") as db:
        referenced = {row[0] for row in db.execute("SELECT key FROM blob_refs")}
        claims = db.execute("SELECT count(*) FROM blob_claims").fetchone()[0]
        marks = db.execute("SELECT count(*) FROM blob_marks").fetchone()[0]
    assert referenced <= files, "every referenced file exists"
    return {
        "unreferenced": len(files - referenced),
        "partial": len(list((media / "tmp").glob("*.part"))),
        "claims": claims,
        "marks": marks,
    }


def _claimed_and_written(data: Path) -> bool:
    left = _leftovers(data)
    return left["claims"] > 0 and left["unreferenced"] > 0


def _leases(data: Path) -> tuple[int, int]:
    """Lease rows in the catalog, lock files on this host."""
    with sqlite3.connect(data / "catalog.db") as db:
        rows = db.execute("SELECT count(*) FROM owners").fetchone()[0]
    return rows, len(list((data / "owners").glob("*.lock")))


def _put_and_forget(service: Service, token: str, path: str, body: dict[str, Any]) -> None:
    """Send an update whose server is about to die; any answer or none is fine."""
    try:
        with service.client(token, timeout=60) as client:
            client.put(path, json=body)
    except httpx.TransportError:
        pass


@pytest.mark.slow
def test_sigkill_during_media_updates(tmp_path: Path, slow_sources: SourceServer) -> None:
    rng = random.Random(20261127)
    names: dict[str, str] = {}
    url_names: dict[str, str] = {}
    for i, (w, h) in enumerate(SIZES):
        content = media_factory.jpeg(w, h)
        names[hashlib.sha256(content).hexdigest()] = f"img{i}"
        url_names[slow_sources.add(f"/crash/img{i}.jpg", content)] = f"img{i}"
    urls = list(url_names)

    data = tmp_path / "data"
    service = loopback_service(data).start()
    try:
        store_id, token = service.new_store()
        with service.client(token) as client:
            created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
            path = f"/api/v3/{store_id}/products/{created.json()['id']}"
            # A second product shares files with the first, so collection must look at both.
            other = client.post(f"/api/v3/{store_id}/products", json={"name": "Shade"})
            shared = {"mainMedia": {"imageUrl": urls[0]}, "galleryMedia": [{"imageUrl": urls[1]}]}
            other_path = f"/api/v3/{store_id}/products/{other.json()['id']}"
            assert client.put(f"{other_path}/media", json=shared).status_code == 200
            full = {
                "mainMedia": {"imageUrl": urls[2]},
                "galleryMedia": [{"imageUrl": url} for url in urls[3:]],
            }
            started = time.monotonic()
            assert client.put(f"{path}/media", json=full).status_code == 200
            duration = time.monotonic() - started
            before = _signature(client.get(path).json(), names)
            other_state = client.get(other_path).json()

        outcomes = {"before": 0, "after": 0}
        left_by_kills = 0
        for _ in range(ROUNDS):
            picked = rng.sample(urls, rng.randint(2, len(urls)))
            body = {
                "mainMedia": {"imageUrl": picked[0]},
                "galleryMedia": [{"imageUrl": url} for url in picked[1:]],
            }
            after = (url_names[picked[0]], tuple(url_names[url] for url in picked[1:]))
            sender = threading.Thread(
                target=_put_and_forget, args=(service, token, f"{path}/media", body)
            )
            sender.start()
            time.sleep(rng.uniform(0, duration * 1.2))
            service.stop(signal.SIGKILL)
            sender.join(timeout=60)
            left = _leftovers(data)
            left_by_kills += sum(left.values()) > 0

            service.start()
            with service.client(token) as client:
                product = client.get(path).json()
                shown = _signature(product, names)
                assert shown in (before, after), f"{shown} is neither {before} nor {after}"
                outcomes["before" if shown == before else "after"] += 1
                before = shown
                assert client.get(other_path).json() == other_state
            _assert_served(_shown_urls(product) | _shown_urls(other_state))
            assert _leftovers(data) == SETTLED
            assert _leases(data) == (1, 1), "only the live server's lease and lock"

        # The kills landed both mid-update and after it, and left something to clean up.
        assert outcomes["before"] > 0 and outcomes["after"] > 0, outcomes
        assert left_by_kills > 0
    finally:
        service.stop()


@pytest.mark.slow
def test_a_running_server_sweeps_up_after_another_that_crashed(
    tmp_path: Path, slow_sources: SourceServer
) -> None:
    data = tmp_path / "data"
    sweeper = Service(
        data,
        "--allow-source-network",
        "127.0.0.1/32",
        env={"PRODUCT_MEDIA_SWEEP_INTERVAL": "0.5", "PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0"},
    ).start()
    victim = loopback_service(data).start()
    try:
        store_id, token = victim.new_store()
        with victim.client(token) as client:
            created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
        path = f"/api/v3/{store_id}/products/{created.json()['id']}/media"
        fast = slow_sources.add("/sweep/fast.jpg", media_factory.jpeg(300, 200))
        dripping = slow_sources.drip("/sweep/slow.jpg", media_factory.jpeg(200, 300), 0.05)
        body = {"mainMedia": {"imageUrl": fast}, "galleryMedia": [{"imageUrl": dripping}]}
        sender = threading.Thread(target=_put_and_forget, args=(victim, token, path, body))
        sender.start()
        deadline = time.monotonic() + 30
        # A claim comes before its files are written, so wait for the files themselves.
        while slow_sources.hits("/sweep/slow.jpg") == 0 or not _claimed_and_written(data):
            assert time.monotonic() < deadline, "the update never wrote its first files"
            time.sleep(0.05)
        victim.stop(signal.SIGKILL)
        sender.join(timeout=60)
        assert _claimed_and_written(data)

        # The surviving server clears it within a few intervals, with no restart.
        deadline = time.monotonic() + 30
        while _leftovers(data) != SETTLED:
            assert time.monotonic() < deadline, f"not swept: {_leftovers(data)}"
            time.sleep(0.2)
        assert _leases(data) == (1, 1)
    finally:
        victim.stop()
        sweeper.stop()
