"""An async image job outlives a SIGKILL of the server that accepted it: recorded before the
answer, taken up by the next server, its image appears under the id that was answered."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.media_factory import png
from tests.service import loopback_service
from tests.source_server import SourceServer


@pytest.fixture(scope="module")
def sources() -> Iterator[SourceServer]:
    with SourceServer("127.0.0.1") as server:
        yield server


def _jobs(data: Path) -> list[int]:
    with sqlite3.connect(data / "catalog.db") as db:
        return [row[0] for row in db.execute("SELECT id FROM media_jobs")]


@pytest.mark.slow
def test_an_async_job_survives_a_sigkill(tmp_path: Path, sources: SourceServer) -> None:
    data = tmp_path / "data"
    service = loopback_service(data).start()
    try:
        store_id, token = service.new_store()
        # A byte every 10 ms: the job is still downloading when the server dies.
        url = sources.drip("/jobs-crash/slow.png", png(8, 8), 0.01)
        with service.client(token) as client:
            created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
            product = f"/api/v3/{store_id}/products/{created.json()['id']}"
            accepted = client.post(
                f"{product}/gallery/async", json={"url": url, "width": 8, "height": 8}
            )
            assert accepted.status_code == 200, accepted.text
            job_id = accepted.json()["id"]
        deadline = time.monotonic() + 30
        while sources.hits("/jobs-crash/slow.png") == 0:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.02)
        service.stop(signal.SIGKILL)
        assert _jobs(data) == [job_id], "the job is in the catalog, not done"

        service.start()
        with service.client(token) as client:
            deadline = time.monotonic() + 60
            while not (gallery := client.get(product).json()["galleryImages"]):
                assert time.monotonic() < deadline, "the job was not taken up"
                time.sleep(0.1)
        assert [item["id"] for item in gallery] == [job_id]
        assert sources.hits("/jobs-crash/slow.png") == 2
        assert _jobs(data) == []
    finally:
        service.stop()
