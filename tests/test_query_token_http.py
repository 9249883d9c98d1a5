"""`?token=` for older clients (DESIGN section 1): read only with ALLOW_QUERY_TOKEN, where it
counts exactly as the Bearer header would; off (the default, as on Ecwid since 2025) it is 403."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.inprocess import EMBEDDED, InProcessService, running


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(
        tmp_path_factory.mktemp("query-token"), EMBEDDED, allow_query_token=True
    )
    with running(service):
        yield service


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code
    message: str = body["errorMessage"]
    return message


def test_off_by_default_and_says_why(service: InProcessService, store: tuple[int, str]) -> None:
    store_id, token = store
    assert service.settings.allow_query_token is False
    with service.client(None) as client:
        response = client.get(f"/api/v3/{store_id}/products", params={"token": token})
    message = _error(response, 403, "INVALID_API_TOKEN")
    assert "Authorization: Bearer" in message
    assert "query string is not accepted" in message


def test_every_call_of_a_client_that_sends_only_query_tokens(allowing: InProcessService) -> None:
    store_id, token = allowing.new_store()
    base = f"/api/v3/{store_id}/products"
    with allowing.client(None) as client:
        created = client.post(base, params={"token": token}, json={"name": "Lamp"})
        assert created.status_code == 200, created.text
        path = f"{base}/{created.json()['id']}"
        found = client.get(base, params={"token": token, "keyword": "Lamp", "limit": "100"})
        assert found.status_code == 200, found.text
        assert [item["name"] for item in found.json()["items"]] == ["Lamp"]
        assert client.get(path, params={"token": token}).json()["name"] == "Lamp"
        media = client.put(f"{path}/media", params={"token": token}, json={"galleryMedia": []})
        assert media.status_code == 200, media.text
        assert client.delete(path, params={"token": token}).json() == {"deleteCount": 1}
        _error(client.get(path, params={"token": token}), 404, "PRODUCT_NOT_FOUND")


def test_a_query_token_has_its_own_scopes_and_store(allowing: InProcessService) -> None:
    store_id, secret = allowing.new_store()
    public = allowing.new_token(store_id, public=True)
    other_store, _ = allowing.new_store()
    base = f"/api/v3/{store_id}/products"
    with allowing.client(None) as client:
        assert client.get(base, params={"token": public}).status_code == 200
        refused = client.post(base, params={"token": public}, json={"name": "X"})
        _error(refused, 403, "INSUFFICIENT_APP_SCOPE")
        wrong = client.get(base, params={"token": f"{secret}x"})
        assert _error(wrong, 403, "INVALID_API_TOKEN") == "Access token is invalid"
        elsewhere = client.get(f"/api/v3/{other_store}/products", params={"token": secret})
        _error(elsewhere, 403, "INVALID_API_TOKEN")
        _error(client.get(base), 403, "INVALID_API_TOKEN")
        _error(client.get(base, params={"token": ""}), 403, "INVALID_API_TOKEN")


def test_the_header_wins_over_the_query(allowing: InProcessService) -> None:
    store_id, token = allowing.new_store()
    base = f"/api/v3/{store_id}/products"
    with allowing.client(token) as client:
        assert client.get(base, params={"token": "secret_unknown"}).status_code == 200
    with allowing.client("secret_unknown") as client:
        _error(client.get(base, params={"token": token}), 403, "INVALID_API_TOKEN")


def test_a_query_token_is_the_same_token_for_the_rate_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    service = InProcessService(
        tmp_path_factory.mktemp("query-token-limit"),
        EMBEDDED,
        allow_query_token=True,
        rate_limit_per_minute=2,
    )
    with running(service):
        store_id, token = service.new_store()
        base = f"/api/v3/{store_id}/products"
        with service.client(token) as client:
            assert client.get(base).status_code == 200
        with service.client(None) as client:
            assert client.get(base, params={"token": token}).status_code == 200
            limited = client.get(base, params={"token": token})
        _error(limited, 429, "RATE_LIMITED")
        assert limited.headers["Retry-After"]
