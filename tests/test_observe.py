"""Request ids, access lines, log formats, metrics and the operations routes, in process."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Response
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message

from product_media import logs, metrics
from product_media.api import errors, observe, ops
from product_media.api.limits import BodyLimits
from product_media.domain.plan import DOWNLOAD_IMAGE_FAILED

pytestmark = pytest.mark.anyio

ID = re.compile(r"[0-9a-f]{32}")
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


class FakeReadiness:
    def __init__(self, database: bool = True, blobs: bool = True) -> None:
        self.database_ok = database
        self.blobs_ok = blobs
        # While set, the database check hangs until it is released.
        self.hang: threading.Event | None = None
        self.database_calls = 0

    def database(self) -> None:
        self.database_calls += 1
        if self.hang is not None:
            self.hang.wait(5)
        if not self.database_ok:
            raise ConnectionError("connection refused")

    def blobs(self) -> None:
        if not self.blobs_ok:
            raise OSError("no such bucket")


def _app(readiness: FakeReadiness | None = None, check_timeout: float = 5.0) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        logging.getLogger("tests.observe").info("item %d", item_id)
        return {"id": item_id, "requestId": logs.request_id.get()}

    @app.put("/items/{item_id}")
    async def put_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/own-id")
    async def own_id() -> Response:
        return Response(headers={"X-Request-Id": "set-by-the-route"})

    app.include_router(ops.router(check_timeout))
    app.add_middleware(BodyLimits, max_bytes=100)
    app.state.readiness = readiness or FakeReadiness()
    observe.install(app)
    return app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _client(app: FastAPI, raise_app_exceptions: bool = False) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_app()) as test_client:
        yield test_client


def _sample(name: str, **labels: str) -> float:
    body, _ = metrics.render()
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _requests(route: str, method: str, status: int) -> float:
    return _sample(
        "product_media_http_requests_total", route=route, method=method, status=str(status)
    )


# Request ids


@pytest.mark.parametrize("incoming", ["abc-123_X.y", "a" * 64, "0"])
async def test_a_well_formed_request_id_is_kept(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/items/1", headers={"X-Request-Id": incoming})
    assert response.headers["X-Request-Id"] == incoming
    assert response.json()["requestId"] == incoming, "the route's log context has it"


# Bytes, so that a Latin-1 value reaches the server as sent.
@pytest.mark.parametrize("incoming", [None, b"", b"a" * 65, b"has space", b"semi;colon", b"\xe9"])
async def test_a_missing_or_malformed_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: bytes | None
) -> None:
    headers = {} if incoming is None else {b"X-Request-Id": incoming}
    response = await client.get("/items/1", headers=headers)
    assert ID.fullmatch(response.headers["X-Request-Id"])
    assert response.json()["requestId"] == response.headers["X-Request-Id"]


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/boom", 500),
        ("GET", "/items/x", 400),
        ("DELETE", "/items/1", 405),
        ("PUT", "/items/1", 415),  # answered by BodyLimits, a middleware inside Observe
        ("GET", "/own-id", 200),
    ],
)
async def test_every_answer_carries_exactly_one_request_id(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    headers = {"X-Request-Id": "rid-1", "Content-Type": "text/plain"}
    response = await client.request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers.get_list("X-Request-Id") == ["rid-1"]


# The access line


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "product_media.access"]


async def test_one_access_line_without_query_string_or_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await client.get(
        "/items/7?token=secret_QUERY&X-Amz-Signature=SIGNATURE",
        headers={"Authorization": "Bearer secret_HEADER"},
    )
    [record] = _access_records(caplog)
    assert re.fullmatch(r"GET /items/7 200 \d+\.\dms", record.getMessage())
    assert (record.method, record.path, record.status) == ("GET", "/items/7", 200)  # type: ignore[attr-defined]
    # httpx, the test's own client, logs the whole URL it sent: not the service's doing.
    served = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    for secret in ("secret_QUERY", "SIGNATURE", "secret_HEADER", "token="):
        assert secret not in served


async def test_control_characters_in_the_path_cannot_forge_a_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await client.get("/items/1%0A2025-01-01T00:00:00.000Z%20INFO%20forged")
    [record] = _access_records(caplog)
    assert "\n" not in record.getMessage()
    assert "/items/1\\x0a2025" in record.getMessage()


async def test_an_escaping_exception_is_logged_and_counted_as_500_then_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    before = _requests("/boom", "GET", 500)
    async with _client(_app(), raise_app_exceptions=True) as raising:
        with pytest.raises(RuntimeError, match="boom"):
            await raising.get("/boom")
    [record] = _access_records(caplog)
    assert record.status == 500  # type: ignore[attr-defined]
    assert _requests("/boom", "GET", 500) == before + 1


async def test_a_client_that_leaves_before_the_answer_is_logged_as_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    async def never_called(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("BodyLimits stops at the disconnect")

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/items/1",
        "headers": [(b"content-type", b"application/json")],
    }
    before = _requests("other", "PUT", 499)
    await observe.Observe(BodyLimits(never_called, max_bytes=100))(scope, receive, send)
    assert sent == []
    [record] = _access_records(caplog)
    assert record.status == 499  # type: ignore[attr-defined]
    assert _requests("other", "PUT", 499) == before + 1


# Log formats


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging reconfigures the whole process: put back what pytest had."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "httpx", "pyvips"]
    saved = [
        (logger, logger.level, logger.handlers[:], logger.propagate, logger.disabled)
        for logger in map(logging.getLogger, names)
    ]
    yield
    for logger, level, handlers, propagate, disabled in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled


@pytest.mark.usefixtures("restore_logging")
async def test_json_logs_are_one_object_a_line_with_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure_logging("json")
    async with _client(_app()) as test_client:
        await test_client.get("/items/5?token=secret_QUERY", headers={"X-Request-Id": "json-1"})
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("tests.outside").exception("outside any request")
    err = capsys.readouterr().err
    entries = [json.loads(line) for line in err.splitlines()]
    by_logger = {entry["logger"]: entry for entry in entries}
    route, access = by_logger["tests.observe"], by_logger["product_media.access"]
    assert route["message"] == "item 5" and route["request_id"] == "json-1"
    assert access["request_id"] == "json-1" and access["level"] == "INFO"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/items/5", 200)
    assert isinstance(access["duration_ms"], float)
    outside = entries[-1]
    assert outside["message"] == "outside any request" and "request_id" not in outside
    assert "Traceback" in outside["exc_info"] and "ValueError: broken" in outside["exc_info"]
    for entry in entries:
        assert re.fullmatch(TIMESTAMP, entry["time"])
        assert datetime.fromisoformat(entry["time"]).utcoffset() is not None


@pytest.mark.usefixtures("restore_logging")
async def test_text_logs_carry_timestamps_and_the_request_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure_logging("text")
    logging.getLogger("tests.observe").warning("plain %s", "line")
    async with _client(_app()) as test_client:
        await test_client.get("/items/6", headers={"X-Request-Id": "text-1"})
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(rf"{TIMESTAMP} WARNING tests\.observe: plain line", lines[0])
    assert re.fullmatch(rf"{TIMESTAMP} INFO tests\.observe: item 6 request_id=text-1", lines[1])
    assert re.fullmatch(
        rf"{TIMESTAMP} INFO product_media\.access: GET /items/6 200 \d+\.\dms request_id=text-1",
        lines[2],
    )


@pytest.mark.usefixtures("restore_logging")
def test_uvicorn_logs_the_same_way_without_its_access_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    uvicorn.Config(_app(), log_config=logs.uvicorn_log_config("json"), log_level="info")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info("GET /items/1?token=secret_QUERY 200")
    logging.getLogger("httpx").info("HTTP Request: GET https://source.example/a.jpg?sig=1")
    logging.getLogger("pyvips").info("VIPS: thumbnail")
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["logger"] == "uvicorn.error"


# Operations routes


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("database", "blobs", "failing"),
    [
        (False, True, ["database"]),
        (True, False, ["blobs"]),
        (False, False, ["database", "blobs"]),
    ],
)
async def test_readyz_names_exactly_the_failing_parts(
    database: bool, blobs: bool, failing: list[str]
) -> None:
    async with _client(_app(FakeReadiness(database, blobs))) as test_client:
        response = await test_client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failing": failing}


async def test_readyz_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_a_hung_check_fails_readyz_without_piling_up_threads() -> None:
    readiness = FakeReadiness()
    readiness.hang = threading.Event()
    try:
        async with _client(_app(readiness, check_timeout=0.2)) as test_client:
            started = time.monotonic()
            first = await test_client.get("/readyz")
            assert time.monotonic() - started < 2
            assert (first.status_code, first.json()["failing"]) == (503, ["database"])
            second = await test_client.get("/readyz")
            assert (second.status_code, second.json()["failing"]) == (503, ["database"])
            assert readiness.database_calls == 1, "no second thread while the first hangs"
            readiness.hang.set()
            deadline = time.monotonic() + 2
            while (await test_client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "the database never came back"
                await anyio.sleep(0.02)
            assert readiness.database_calls >= 2
    finally:
        readiness.hang.set()


async def test_ops_routes_stay_out_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)


# Metrics


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    before = _requests("/items/{item_id}", "GET", 200)
    await client.get("/items/41")
    await client.get("/items/42?x=1")
    await client.get("/nowhere/at/all")
    await client.request("BREW", "/items/1")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "/items/42" not in response.text and "/nowhere" not in response.text
    assert _requests("/items/{item_id}", "GET", 200) == before + 2
    assert _requests("other", "GET", 404) >= 1
    assert _requests("/items/{item_id}", "other", 405) >= 1
    count = _sample(
        "product_media_http_request_seconds_count", route="/items/{item_id}", method="GET"
    )
    assert count >= 2


def test_item_results_keep_error_codes_bounded() -> None:
    def count(result: str, code: str) -> float:
        return _sample("product_media_media_items_total", result=result, error_code=code)

    before = [count("success", ""), count("failure", DOWNLOAD_IMAGE_FAILED)]
    before.append(count("failure", "OTHER"))
    metrics.record_item(True)
    metrics.record_item(False, DOWNLOAD_IMAGE_FAILED)
    metrics.record_item(False, "SOMETHING_NEW")
    after = [count("success", ""), count("failure", DOWNLOAD_IMAGE_FAILED)]
    after.append(count("failure", "OTHER"))
    assert after == [n + 1 for n in before]
    assert count("failure", "SOMETHING_NEW") == 0


def test_prepare_multiprocess_dir_clears_only_metric_files(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "metrics"
    metrics.prepare_multiprocess_dir(folder)
    (folder / "counter_123.db").write_bytes(b"stale")
    (folder / "notes.txt").write_text("kept")
    metrics.prepare_multiprocess_dir(folder)
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]


WORKER = """
import sys
from product_media import metrics
metrics.MEDIA_UPDATES.inc()
metrics.SOURCES_IN_FLIGHT.inc()
print("ready", flush=True)
sys.stdin.readline()
"""


def test_metrics_add_up_across_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics.prepare_multiprocess_dir(tmp_path)
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
        monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
        assert _sample("product_media_media_updates_total") == 2
        assert _sample("product_media_sources_in_flight") == 2
        workers[0].communicate("\n", timeout=10)
        # A dead worker's counts stay; its share of what is in flight now goes.
        assert _sample("product_media_media_updates_total") == 2
        assert _sample("product_media_sources_in_flight") == 1
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.communicate("\n", timeout=10)
