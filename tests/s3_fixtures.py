"""Fixtures for tests that need an S3-compatible server (see tests.s3_server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.s3_server import AWS_ENV, moto_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The endpoint URL of one moto S3 server for the whole test session."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials and region for this test's clients, the default chain's way."""
    # A profile named in the environment would win over these, or fail for want of a file.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
