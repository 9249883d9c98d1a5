"""Shared fixtures: the service (in-process, on each backend), a store with a token, a source of
images, and the servers the scaled-out backend needs (PostgreSQL, an S3 stand-in)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.browser import chromium_problem
from tests.databases import postgresql_problem, redis_problem, strict, temporary_database
from tests.inprocess import EMBEDDED, Backend, InProcessService
from tests.node_clients import node_problem
from tests.s3_fixtures import aws_env, s3_endpoint  # noqa: F401 - fixtures
from tests.s3_server import AWS_ENV, fresh_bucket_name
from tests.source_server import SourceServer


def pytest_report_header() -> list[str]:
    """One loud line per missing service, up front, instead of a skip per test."""
    lines = []
    for problem in (postgresql_problem(), redis_problem(), node_problem(), chromium_problem()):
        if problem is not None:
            verdict = "tests that need it FAIL (CI)" if strict() else "tests that need it SKIP"
            lines.append(f"!!! {problem} is not available: {verdict}")
    return lines


@pytest.fixture(scope="session")
def sources() -> Iterator[SourceServer]:
    """A real HTTP server on 127.0.0.1 that the service is allowed to fetch from."""
    with SourceServer("127.0.0.1") as server:
        yield server


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at its end."""
    with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def aws_session_env() -> Iterator[None]:
    """Dummy credentials for the S3 clients the service makes in this process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        yield


def scaled_backend(database: str, endpoint: str) -> Backend:
    """PostgreSQL and a fresh bucket on the S3 stand-in (the moto server)."""
    return Backend(
        "postgresql+s3",
        database_url=database,
        blob_url=f"s3://{fresh_bucket_name()}/media",
        s3_endpoint_url=endpoint,
    )


@pytest.fixture(scope="session", params=["sqlite+folder", "postgresql+s3"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every HTTP test runs on the embedded default and on the scaled-out backend."""
    if request.param == EMBEDDED.name:
        return EMBEDDED
    request.getfixturevalue("aws_session_env")
    return scaled_backend(
        request.getfixturevalue("postgresql_url"), request.getfixturevalue("s3_endpoint")
    )


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[InProcessService]:
    svc = InProcessService(tmp_path_factory.mktemp("service"), backend).start()
    yield svc
    svc.stop()


@pytest.fixture
def store(service: InProcessService) -> tuple[int, str]:
    """A fresh store and a secret token with every catalog scope."""
    return service.new_store()


@pytest.fixture
def api(service: InProcessService, store: tuple[int, str]) -> Iterator[httpx.Client]:
    with service.client(store[1]) as client:
        yield client


@pytest.fixture
def store_path(store: tuple[int, str]) -> str:
    return f"/api/v3/{store[0]}"


@pytest.fixture
def product(api: httpx.Client, store_path: str) -> str:
    """The path of a new product (its SKU its own: SKUs are unique in a store)."""
    sku = f"S-{uuid.uuid4().hex[:12]}"
    response = api.post(f"{store_path}/products", json={"name": "Shirt", "sku": sku})
    assert response.status_code == 200, response.text
    return f"{store_path}/products/{response.json()['id']}"
