"""Shared fixtures: a running service, a store with a token, and a source of images."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service import Service, loopback_service
from tests.source_server import SourceServer


@pytest.fixture(scope="session")
def sources() -> Iterator[SourceServer]:
    """A real HTTP server on 127.0.0.1 that the service is allowed to fetch from."""
    with SourceServer("127.0.0.1") as server:
        yield server


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("service")
    svc = loopback_service(data).start()
    yield svc
    svc.stop()


@pytest.fixture
def store(service: Service) -> tuple[int, str]:
    """A fresh store and a secret token with every catalog scope."""
    return service.new_store()


@pytest.fixture
def api(service: Service, store: tuple[int, str]) -> Iterator[httpx.Client]:
    with service.client(store[1]) as client:
        yield client


@pytest.fixture
def store_path(store: tuple[int, str]) -> str:
    return f"/api/v3/{store[0]}"


@pytest.fixture
def product(api: httpx.Client, store_path: str) -> str:
    """The path of a new product."""
    response = api.post(f"{store_path}/products", json={"name": "Shirt", "sku": "S-1"})
    assert response.status_code == 200, response.text
    return f"{store_path}/products/{response.json()['id']}"
