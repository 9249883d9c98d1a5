"""GET /api/v3/{storeId}/profile (DESIGN section 8): for any valid token of the store."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from product_media.service.errors import StoreNotFound
from product_media.service.profile import get_store
from tests.fakes import FakeCatalog
from tests.inprocess import EMBEDDED, InProcessService, running


def _expected(store_id: int, url: str) -> dict[str, object]:
    return {
        "generalInfo": {"storeId": store_id, "storeUrl": url},
        "account": {"accountName": "Test store"},
        "settings": {"storeName": "Test store"},
        "languages": {"enabledLanguages": ["en"], "defaultLanguage": "en"},
    }


@pytest.mark.parametrize("kind", ["secret", "public", "read_catalog", "update_catalog"])
def test_any_token_of_the_store_reads_it(service: InProcessService, kind: str) -> None:
    store_id, secret = service.new_store()
    token = {
        "secret": secret,
        "public": service.new_token(store_id, public=True),
        "read_catalog": service.new_token(store_id, scopes="read_catalog"),
        "update_catalog": service.new_token(store_id, scopes="update_catalog"),
    }[kind]
    with service.client(token) as client:
        for path in (f"/api/v3/{store_id}/profile", f"/api/v3/{store_id}/profile/"):
            response = client.get(path)
            assert response.status_code == 200, response.text
            assert response.json() == _expected(store_id, service.url)


def test_refusals(service: InProcessService) -> None:
    store_id, token = service.new_store()
    other_store, other_token = service.new_store()
    cases = [
        (None, f"/api/v3/{store_id}/profile", 403, "INVALID_API_TOKEN"),
        (other_token, f"/api/v3/{store_id}/profile", 403, "INVALID_API_TOKEN"),
        (token, "/api/v3/987654321/profile", 404, "STORE_NOT_FOUND"),
        (token, "/api/v3/abc/profile", 400, "WRONG_PARAMETER"),
    ]
    for presented, path, status, code in cases:
        with service.client(presented) as client:
            response = client.get(path)
        assert response.status_code == status, (path, response.text)
        assert response.json()["errorCode"] == code
    assert other_store != store_id


def test_store_url_is_the_public_url(tmp_path: Path) -> None:
    public_url = "https://media.shop.example/"
    with running(InProcessService(tmp_path, EMBEDDED, public_url=public_url)) as service:
        store_id, token = service.new_store(public=True)
        with service.client(token) as client:
            body = client.get(f"/api/v3/{store_id}/profile").json()
    assert body["generalInfo"]["storeUrl"] == "https://media.shop.example"


def test_service_refuses_a_store_that_is_gone() -> None:
    catalog = FakeCatalog()
    store_id = catalog.create_store("Kept")
    assert anyio.run(get_store, catalog, store_id).name == "Kept"
    with pytest.raises(StoreNotFound):
        anyio.run(get_store, catalog, store_id + 1)
