"""Tokens, scopes and the per-token rate limit, through the running server (DESIGN 1 and 5)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from product_media.storage.tables import tokens
from tests.databases import REDIS_URL, require_redis
from tests.inprocess import ROUTER, Backend, InProcessService, running
from tests.service import cli


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code
    assert body["errorMessage"]


def test_missing_token(service: InProcessService, store: tuple[int, str]) -> None:
    with service.client(None) as client:
        _error(client.get(f"/api/v3/{store[0]}/products"), 403, "INVALID_API_TOKEN")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Basic abc", "secret_nothing", "Bearer secret_unknown", "Token x"],
)
def test_bad_authorization_header(
    service: InProcessService, store: tuple[int, str], header: str
) -> None:
    headers = {"Authorization": header}
    with httpx.Client(base_url=service.url, headers=headers, transport=ROUTER) as client:
        _error(client.get(f"/api/v3/{store[0]}/products"), 403, "INVALID_API_TOKEN")


def test_token_in_query_is_not_accepted(service: InProcessService, store: tuple[int, str]) -> None:
    """Ecwid stopped accepting ?token= in March 2025; so do we."""
    with service.client(None) as client:
        response = client.get(f"/api/v3/{store[0]}/products", params={"token": store[1]})
        _error(response, 403, "INVALID_API_TOKEN")


def test_token_of_another_store(service: InProcessService, store: tuple[int, str]) -> None:
    other_store, _ = service.new_store()
    with service.client(store[1]) as client:
        _error(client.get(f"/api/v3/{other_store}/products"), 403, "INVALID_API_TOKEN")


def test_unknown_store(service: InProcessService, store: tuple[int, str]) -> None:
    with service.client(store[1]) as client:
        _error(client.get("/api/v3/987654321/products"), 404, "STORE_NOT_FOUND")


@pytest.mark.parametrize("store_id", ["0", "-1", "abc", "1.5", "99999999999999999999999"])
def test_bad_store_id(service: InProcessService, store: tuple[int, str], store_id: str) -> None:
    with service.client(store[1]) as client:
        response = client.get(f"/api/v3/{store_id}/products")
        assert response.status_code in (400, 404), response.text
        assert response.json()["errorMessage"]


# scope -> (method, path suffix, body) calls that need it
CALLS = {
    "read_catalog": [("GET", "/products", None), ("GET", "/products/{pid}", None)],
    "create_catalog": [("POST", "/products", {"name": "New"})],
    "update_catalog": [
        ("PUT", "/products/{pid}/media", {"galleryMedia": []}),
        ("DELETE", "/products/{pid}", None),
    ],
}


@pytest.mark.parametrize("scope", sorted(CALLS))
def test_each_call_needs_its_scope(service: InProcessService, scope: str) -> None:
    store_id, full_token = service.new_store()
    with service.client(full_token) as admin:
        pid = admin.post(f"/api/v3/{store_id}/products", json={"name": "P"}).json()["id"]
    others = ",".join(s for s in CALLS if s != scope)
    without = service.new_token(store_id, scopes=others)
    only = service.new_token(store_id, scopes=scope)
    for method, suffix, body in CALLS[scope]:
        path = f"/api/v3/{store_id}" + suffix.format(pid=pid)
        with service.client(without) as client:
            response = client.request(method, path, json=body)
            _error(response, 403, "INSUFFICIENT_APP_SCOPE")
        with service.client(only) as client:
            response = client.request(method, path, json=body)
            assert response.status_code == 200, (method, path, response.text)


def test_public_token_reads_only(service: InProcessService) -> None:
    store_id, secret = service.new_store()
    public = service.new_token(store_id, public=True)
    assert public.startswith("public_") and secret.startswith("secret_")
    with service.client(secret) as admin:
        pid = admin.post(f"/api/v3/{store_id}/products", json={"name": "P"}).json()["id"]
    with service.client(public) as client:
        assert client.get(f"/api/v3/{store_id}/products/{pid}").status_code == 200
        _error(
            client.post(f"/api/v3/{store_id}/products", json={"name": "x"}),
            403,
            "INSUFFICIENT_APP_SCOPE",
        )
        _error(
            client.put(f"/api/v3/{store_id}/products/{pid}/media", json={}),
            403,
            "INSUFFICIENT_APP_SCOPE",
        )


def test_tokens_are_stored_hashed(service: InProcessService, store: tuple[int, str]) -> None:
    secret = store[1].split("_", 1)[1]
    with service.state.adapters.catalog.engine.connect() as conn:  # type: ignore[attr-defined]
        stored = [str(value) for row in conn.execute(select(tokens)) for value in row]
    assert stored and not any(secret in value for value in stored)
    database = service.data / "catalog.db"
    if database.exists():
        assert secret.encode() not in database.read_bytes()


@pytest.mark.parametrize("shared_in", ["database", "redis"])
def test_rate_limit(tmp_path, backend: Backend, shared_in: str) -> None:
    options: dict[str, object] = {"rate_limit_per_minute": 5}
    if shared_in == "redis":
        require_redis()
        options["redis_url"] = REDIS_URL
    with running(InProcessService(tmp_path / "data", backend, **options)) as svc:
        store_id, token = svc.new_store()
        _, other_token = svc.new_store()
        with svc.client(token) as client:
            statuses = [client.get(f"/api/v3/{store_id}/products").status_code for _ in range(7)]
            assert statuses[:5] == [200] * 5
            limited = client.get(f"/api/v3/{store_id}/products")
            _error(limited, 429, "RATE_LIMITED")
            assert int(limited.headers["Retry-After"]) >= 1
        with svc.client(other_token) as client:
            assert client.get(f"/api/v3/{store_id}/products").status_code == 403


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_cli_stores_and_tokens(tmp_path, database: str, request: pytest.FixtureRequest) -> None:
    """The command line on either database: explicit ids, generated ones past them, errors."""
    options = []
    if database == "postgresql":
        options = ["--database-url", request.getfixturevalue("postgresql_url")]

    def run(*args: str, check: bool = True):
        return cli(tmp_path, *args, *options, check=check)

    explicit = 10**12 + int.from_bytes(tmp_path.name.encode()[-4:], "big")
    first = run("stores", "create", "--id", str(explicit))
    assert first.stdout.strip() == str(explicit)
    missing = run("tokens", "create", "--store", "424242", check=False)
    assert missing.returncode != 0 and "424242" in missing.stderr
    bad_scope = run("tokens", "create", "--store", "1", "--scopes", "x", check=False)
    assert bad_scope.returncode != 0 and "unknown scope" in bad_scope.stderr
    again = run("stores", "create", "--id", str(explicit), check=False)
    assert again.returncode != 0 and "exists" in again.stderr
    generated = int(run("stores", "create", "--name", "after").stdout)
    assert generated > explicit
    token = run("tokens", "create", "--store", str(generated)).stdout.strip()
    assert token.startswith("secret_")
    bad_url = cli(tmp_path, "stores", "create", "--database-url", "mysql://x@y/z", check=False)
    assert bad_url.returncode == 2 and "unsupported database URL" in bad_url.stderr
    assert "Traceback" not in bad_url.stderr
