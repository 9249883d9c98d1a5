"""What the server writes to its log: never a token, never a source URL's query string."""

from __future__ import annotations

from pathlib import Path

from tests import media_factory
from tests.service import loopback_service
from tests.source_server import SourceServer

SECRET = "sig-5f1d0c2b9e"


def test_logs_carry_no_tokens_and_no_source_query_strings(
    tmp_path: Path, sources: SourceServer
) -> None:
    service = loopback_service(tmp_path / "data").start()
    try:
        store_id, token = service.new_store()
        good = sources.add("/logs/good.jpg", media_factory.jpeg(120, 80))
        missing = sources.url("/logs/missing.jpg")
        refused = sources.redirect("/logs/hop.jpg", f"http://10.0.0.1/x.jpg?token={SECRET}")
        body = {
            "mainMedia": {"imageUrl": f"{good}?X-Amz-Signature={SECRET}"},
            "galleryMedia": [
                {"imageUrl": f"{missing}?X-Amz-Signature={SECRET}"},
                {"imageUrl": f"{refused}?auth={SECRET}"},
                {"imageUrl": f"{sources.url('/logs/empty.jpg')}?k={SECRET}", "videoUrl": None},
            ],
        }
        sources.add("/logs/empty.jpg", b"")
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
    finally:
        service.stop()
    log = service.log.read_text()
    assert "media update of product" in log, "the update was logged"
    assert "/logs/missing.jpg refused: HTTP 404" in log, "failed sources are logged"
    assert "VIPS:" not in log, "libvips' narration stays out"
    assert SECRET not in log
    assert token not in log
    assert token.removeprefix("secret_") not in log
