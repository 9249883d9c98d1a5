"""What the server writes to its log: never a token, never a source URL's query string.

The service runs in this process, so its log is read from the logging module: every record
any logger emits during the test, let through and formatted as `product-media serve`
configures logging (product_media.logs), the way its stderr would show them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from product_media.logs import RequestIdFilter, TextFormatter, uvicorn_log_config
from tests import media_factory
from tests.inprocess import Backend, InProcessService, running
from tests.source_server import SourceServer

SECRET = "sig-5f1d0c2b9e"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def server_log() -> Iterator[list[str]]:
    """The lines the server's log configuration would write while inside, from all loggers.

    The levels and propagation are those `configure_logging` sets (root at INFO, libvips and
    httpx at WARNING, ...), applied for the duration only; the lines are formatted by the
    server's own formatter, with the request id filter."""
    config = uvicorn_log_config("text")
    root = logging.getLogger()
    loggers = {name: logging.getLogger(name) for name in config["loggers"]}
    saved = {name: (log.level, log.propagate) for name, log in loggers.items()}
    saved_root = root.level
    handler = _Lines()
    handler.setFormatter(TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.setLevel(config["root"]["level"])
    for name, log in loggers.items():
        log.setLevel(config["loggers"][name].get("level", logging.NOTSET))
        log.propagate = config["loggers"][name].get("propagate", True)
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, (level, propagate) in saved.items():
            loggers[name].setLevel(level)
            loggers[name].propagate = propagate


def test_logs_carry_no_tokens_and_no_source_query_strings(
    tmp_path: Path, backend: Backend, sources: SourceServer
) -> None:
    base = f"/logs/{uuid.uuid4().hex}"
    with server_log() as lines, running(InProcessService(tmp_path / "data", backend)) as service:
        store_id, token = service.new_store()
        good = sources.add(f"{base}/good.jpg", media_factory.jpeg(120, 80))
        missing = sources.url(f"{base}/missing.jpg")
        refused = sources.redirect(f"{base}/hop.jpg", f"http://10.0.0.1/x.jpg?token={SECRET}")
        body = {
            "mainMedia": {"imageUrl": f"{good}?X-Amz-Signature={SECRET}"},
            "galleryMedia": [
                {"imageUrl": f"{missing}?X-Amz-Signature={SECRET}"},
                {"imageUrl": f"{refused}?auth={SECRET}"},
                {"imageUrl": f"{sources.url(f'{base}/empty.jpg')}?k={SECRET}", "videoUrl": None},
            ],
        }
        sources.add(f"{base}/empty.jpg", b"")
        with service.client(token) as client:
            created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
            path = f"/api/v3/{store_id}/products/{created.json()['id']}"
            results = client.put(f"{path}/media", json=body).json()
            assert results["mainMedia"]["success"] is True
            assert [item["success"] for item in results["galleryMedia"]] == [False] * 3
            # The caller who sent the URLs gets them back whole in the results.
            assert SECRET in results["galleryMedia"][0]["errorMessage"]
            assert client.get(path).status_code == 200
        with service.client(f"{token}x") as client:
            assert client.get(path).status_code == 403
    log = "\n".join(lines)
    # Something was logged: an access line per request, with its request id, and the update.
    for method, status in (("POST", 200), ("PUT", 200), ("GET", 200), ("GET", 403)):
        route = f"{path}/media" if method == "PUT" else path
        if method == "POST":
            route = f"/api/v3/{store_id}/products"
        access = rf" INFO product_media\.access: {method} {re.escape(route)} {status} [\d.]+ms "
        assert re.search(access + r"request_id=[0-9a-f]{32}$", log, re.MULTILINE), (access, log)
    assert f"media update of product {path.rpartition('/')[2]} in store {store_id}" in log
    assert f"{base}/missing.jpg refused: HTTP 404" in log, "failed sources are logged"
    assert "VIPS:" not in log, "libvips' narration stays out"
    assert SECRET not in log
    assert token not in log
    assert token.removeprefix("secret_") not in log
