"""The whole log of a real server process carries no token and no source query string
(DESIGN section 1): access lines, the app's lines, failures, uvicorn's own lines, in both
formats, with `?token=` accepted (ALLOW_QUERY_TOKEN) so that tokens really travel in URLs."""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import media_factory
from tests.service import Service, free_port
from tests.source_server import SourceServer

pytestmark = pytest.mark.slow

SECRET = "sig-7c1e4b0a93"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ ")


@pytest.fixture(params=["text", "json"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    env = {
        "PRODUCT_MEDIA_ALLOW_QUERY_TOKEN": "1",
        "PRODUCT_MEDIA_LOG_FORMAT": request.param,
        "PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0",
    }
    service = Service(tmp_path / "data", "--allow-source-network", "127.0.0.1/32", env=env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _raw_request(service: Service, request: bytes) -> None:
    """A request uvicorn itself refuses, so that its own warning is in the log too."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(request)
        sock.recv(65536)


def test_no_secret_reaches_any_log_line(server: Service, sources: SourceServer) -> None:
    store_id, token = server.new_store()
    public = server.new_token(store_id, public=True)
    base = f"/logs-process/{uuid.uuid4().hex}"
    good = sources.add(f"{base}/good.jpg", media_factory.jpeg(64, 48))
    broken = sources.add(f"{base}/broken.jpg", media_factory.html())
    missing = sources.url(f"{base}/missing.jpg")
    hop = sources.redirect(f"{base}/hop.jpg", f"http://10.0.0.1/x.jpg?sig={SECRET}")
    closed = f"http://127.0.0.1:{free_port()}/closed.jpg"
    api = f"/api/v3/{store_id}"
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        created = client.post(f"{api}/products", params={"token": token}, json={"name": "Lamp"})
        assert created.status_code == 200, created.text
        product = f"{api}/products/{created.json()['id']}"
        update = {
            "mainMedia": {"imageUrl": f"{good}?sig={SECRET}"},
            "galleryMedia": [
                {"imageUrl": f"{missing}?sig={SECRET}"},
                {"imageUrl": f"{broken}?X-Amz-Signature={SECRET}"},
                {"imageUrl": f"{hop}?sig={SECRET}"},
                {"imageUrl": f"{closed}?sig={SECRET}"},
            ],
        }
        results = client.put(f"{product}/media", params={"token": token}, json=update).json()
        assert results["mainMedia"]["success"] is True, results
        assert [item["success"] for item in results["galleryMedia"]] == [False] * 4, results
        # Refused before any fetch: credentials, a scheme that is not http(s).
        for url in (f"http://u:{SECRET}@127.0.0.1/a.jpg", f"ftp://127.0.0.1/a.jpg?{SECRET}"):
            body = {"galleryMedia": [{"imageUrl": url}]}
            refused = client.put(f"{product}/media", params={"token": token}, json=body)
            assert refused.status_code == 422, refused.text
        assert client.get(product, params={"token": public}).status_code == 200
        assert client.get(product, params={"token": f"{token}x"}).status_code == 403
        assert client.get(f"{api}/products/987654321", params={"token": token}).status_code == 404
        # A client that encodes its `?`: the path itself then holds the token.
        encoded = client.get(f"{api}/products%3Ftoken%3D{token}")
        assert encoded.status_code in (400, 404), encoded.text
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get(f"{api}/products", headers=headers).status_code == 200
    _raw_request(server, f"GET {api}/products?token={token} HTTP/1.1\r\nHost\r\n\r\n".encode())
    server.stop()
    log = server.log.read_text()
    lines = log.splitlines()

    if server.env["PRODUCT_MEDIA_LOG_FORMAT"] == "json":
        records = [json.loads(line) for line in lines]
        access = [r for r in records if r["logger"] == "product_media.access"]
        assert all(r["request_id"] for r in access), access
        messages = [r["message"] for r in records]
    else:
        messages = [line for line in lines if TIMESTAMP.match(line)]
        access = [line for line in messages if " product_media.access: " in line]
    text = "\n".join(messages)
    # The log is not empty: an access line per request, the sources' failures, uvicorn's own.
    assert len(access) >= 9, log
    assert f"{base}/missing.jpg refused: HTTP 404" in text, log
    assert f"{base}/broken.jpg refused" in text, log
    assert f"{base}/hop.jpg refused" in text, log
    assert "/closed.jpg refused" in text, log
    assert "Invalid HTTP request" in text, log
    assert "Uvicorn running on" in text, log

    for secret in (SECRET, token, token.partition("_")[2], public, public.partition("_")[2]):
        assert secret not in log, (secret, log)
