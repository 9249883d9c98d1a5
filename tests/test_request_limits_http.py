"""The gallery-size limit of a media update, at its default and as a setting."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests import media_factory
from tests.inprocess import EMBEDDED, InProcessService, running
from tests.source_server import SourceServer


def _gallery(url: str, count: int) -> dict[str, object]:
    return {"galleryMedia": [{"imageUrl": f"{url}?n={i}"} for i in range(count)]}


def _product(client: httpx.Client, store_id: int) -> str:
    created = client.post(f"/api/v3/{store_id}/products", json={"name": "Lamp"})
    return f"/api/v3/{store_id}/products/{created.json()['id']}"


def _unique(name: str) -> str:
    """A path no other test (or run on another backend) uses, so hit counts are this test's."""
    return f"/limits/{uuid.uuid4().hex}/{name}"


def test_a_hundred_gallery_items_pass_and_one_more_does_not(
    service: InProcessService, api: httpx.Client, store: tuple[int, str], sources: SourceServer
) -> None:
    path = _product(api, store[0])
    source = _unique("one.jpg")
    url = sources.add(source, media_factory.jpeg(64, 48))
    refused = api.put(f"{path}/media", json=_gallery(url, 101))
    assert refused.status_code == 400
    assert refused.json()["errorCode"] == "WRONG_PARAMETER"
    assert "100" in refused.json()["errorMessage"]
    assert sources.hits(source) == 0, "refused before anything is fetched"
    assert api.get(path).json()["galleryImages"] == []

    accepted = api.put(f"{path}/media", json=_gallery(url, 100))
    assert accepted.status_code == 200
    assert all(item["success"] for item in accepted.json()["galleryMedia"])
    assert sources.hits(source) == 100
    assert len(api.get(path).json()["galleryImages"]) == 100


def test_the_gallery_limit_is_a_setting(
    tmp_path: Path, sources: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment twin of the setting, as an operator sets it; no keyword argument.
    monkeypatch.setenv("PRODUCT_MEDIA_MAX_GALLERY_ITEMS", "3")
    with running(InProcessService(tmp_path / "data", EMBEDDED)) as service:
        assert service.settings.max_gallery_items == 3
        store_id, token = service.new_store()
        source = _unique("two.jpg")
        url = sources.add(source, media_factory.jpeg(64, 48))
        with service.client(token) as client:
            path = _product(client, store_id)
            refused = client.put(f"{path}/media", json=_gallery(url, 4))
            assert refused.status_code == 400
            assert refused.json()["errorCode"] == "WRONG_PARAMETER"
            assert sources.hits(source) == 0, "refused before anything is fetched"
            accepted = client.put(f"{path}/media", json=_gallery(url, 3))
            assert accepted.status_code == 200
            assert all(item["success"] for item in accepted.json()["galleryMedia"])
            assert len(client.get(path).json()["galleryImages"]) == 3
