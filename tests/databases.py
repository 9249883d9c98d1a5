"""The real services the tests need: PostgreSQL (a database of their own per run or test)
and Redis, on the addresses this machine's CI starts them on.

Without a server the tests that need it skip, and the run's header says so in one line;
in CI (`CI` or `PRODUCT_MEDIA_TEST_STRICT` set) a missing server fails them instead, so a
green CI never hides a test that did not run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from functools import cache

import pytest

POSTGRESQL_ADMIN_URL = os.environ.get(
    "PRODUCT_MEDIA_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PRODUCT_MEDIA_TEST_REDIS", "redis://127.0.0.1:6379/0")


def strict() -> bool:
    """Whether a missing service fails the tests that need it (in CI) instead of skipping."""
    return any(
        os.environ.get(name, "").lower() not in ("", "0", "false", "no")
        for name in ("CI", "PRODUCT_MEDIA_TEST_STRICT")
    )


def missing(what: str) -> None:
    """Skip (or, in CI, fail) the running test because `what` is not there."""
    if strict():
        pytest.fail(f"{what} is not available, and CI runs every test", pytrace=False)
    pytest.skip(f"{what} is not available")


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@cache
def postgresql_problem() -> str | None:
    """None when the PostgreSQL server answers and lets the tests create databases."""
    import psycopg

    try:
        with psycopg.connect(POSTGRESQL_ADMIN_URL, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRESQL_ADMIN_URL} ({str(exc).strip().splitlines()[0]})"
    return None


@cache
def redis_problem() -> str | None:
    if not _port_open("127.0.0.1", 6379):
        return f"Redis at {REDIS_URL}"
    return None


def require_postgresql() -> None:
    if (problem := postgresql_problem()) is not None:
        missing(problem)


def require_redis() -> None:
    if (problem := redis_problem()) is not None:
        missing(problem)


def _admin_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRESQL_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


@contextlib.contextmanager
def temporary_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; its URL. Dropped afterwards, connections and all."""
    require_postgresql()
    from sqlalchemy.engine import make_url

    name = f"product_media_test_{uuid.uuid4().hex[:16]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(POSTGRESQL_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
