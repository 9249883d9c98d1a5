"""The shared rate limit: the sliding-window arithmetic, and both adapters (Redis and the
catalog database) alone and as several replicas."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, event, insert, select

from product_media.storage.engine import make_engine, migrate
from product_media.storage.rate_limits import (
    WINDOW,
    DatabaseRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    Unlimited,
    admits,
    build_rate_limiter,
    wait_seconds,
    window_of,
)
from product_media.storage.tables import rate_counts
from tests.databases import REDIS_URL, require_redis, temporary_database

# The start of a window, so that `START + s` is `s` seconds into it.
START = 1_800_000_000.0
assert START % WINDOW == 0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decide(previous: int, current: int, elapsed: float, limit: int) -> int | None:
    if admits(previous, current, elapsed, limit):
        return None
    return wait_seconds(previous, current, elapsed, limit)


# ---------------------------------------------------------------- the arithmetic


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.0, (0, 0.0)),
        (59.5, (0, 59.5)),
        (60.0, (1, 0.0)),
        (START + 50.25, (START // WINDOW, 50.25)),
    ],
)
def test_window_of(now: float, expected: tuple[int, float]) -> None:
    assert window_of(now) == expected


@pytest.mark.parametrize(
    ("limit", "previous", "current", "elapsed", "expected"),
    [
        (10, 0, 0, 0.0, None),  # nothing counted yet
        (10, 0, 9, 30.0, None),  # the limit-th request
        (10, 0, 10, 30.0, 36),  # window full: 30 s to its end, then 10 x 54/60 + 1 = 10
        (10, 10, 0, 0.0, 6),  # the previous window weighs 10 until 6 s in
        (10, 10, 0, 6.0, None),  # 10 x 54/60 + 1 = 10
        (10, 10, 5, 0.0, 36),  # 10 x 24/60 + 5 + 1 = 10
        (10, 10, 5, 35.5, 1),  # half a second, rounded up
        (10, 10, 5, 35.99, 1),
        (10, 20, 0, 30.0, 3),  # 20 x 30/60 + 1 = 11 > 10; 20 x 27/60 + 1 = 10
        (1, 0, 1, 59.5, 61),  # limit 1: this window's request weighs all through the next
        (600, 600, 0, 0.05, 1),  # a fraction of a second at the default limit
        (10, 0, 15, 0.0, 84),  # overrun by other replicas: 60 s, then 15 x 36/60 + 1 = 10
    ],
)
def test_window_arithmetic(
    limit: int, previous: int, current: int, elapsed: float, expected: int | None
) -> None:
    assert decide(previous, current, elapsed, limit) == expected


def _admitted_at(previous: int, current: int, elapsed: float, limit: int, later: float) -> bool:
    """Whether a request `later` seconds on is admitted, nothing else counted meanwhile."""
    at = elapsed + later
    if at < WINDOW:
        return admits(previous, current, at, limit)
    if at < 2 * WINDOW:
        return admits(current, 0, at - WINDOW, limit)
    return admits(0, 0, at - 2 * WINDOW, limit)


@given(
    limit=st.integers(1, 50),
    previous=st.integers(0, 100),
    current=st.integers(0, 100),
    # Eighths of a second keep the arithmetic exact, so the boundaries are too.
    eighths=st.integers(0, WINDOW * 8 - 1),
)
def test_retry_after_is_neither_early_nor_a_second_late(
    limit: int, previous: int, current: int, eighths: int
) -> None:
    elapsed = eighths / 8
    wait = decide(previous, current, elapsed, limit)
    if wait is None:
        return
    assert _admitted_at(previous, current, elapsed, limit, wait)
    if wait > 1:
        assert not _admitted_at(previous, current, elapsed, limit, wait - 1)


# ---------------------------------------------------------------- databases and Redis


def _migrated(url: str) -> str:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _migrated(f"sqlite:///{tmp_path_factory.mktemp('rate_limits') / 'catalog.db'}")


@pytest.fixture(scope="module")
def postgresql_url() -> Iterator[str]:
    with temporary_database() as url:
        yield _migrated(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def engines(database_url: str) -> Iterator[Callable[[], Engine]]:
    """Makes engines on one database: each stands for a replica's own."""
    made: list[Engine] = []

    def make() -> Engine:
        made.append(make_engine(database_url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def redis_prefix() -> str:
    require_redis()
    return f"product_media_test:rate:{uuid.uuid4().hex}"


def _stored(engine: Engine, key: str) -> int:
    with engine.connect() as conn:
        total = conn.execute(
            select(rate_counts.c["count"]).where(rate_counts.c.token_hash == key)
        ).scalars()
        return sum(total)


def _key() -> str:
    return uuid.uuid4().hex


Factory = Callable[[int, FakeClock], RateLimiter]


@pytest.fixture(params=["database", "redis"])
def make_limiter(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Factory]:
    """Makes limiters of one kind; the database ones never sync on their own here."""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        yield lambda per_minute, clock: RedisRateLimiter(
            REDIS_URL, per_minute, clock, prefix=prefix
        )
        return
    engine = make_engine(sqlite_url)
    yield lambda per_minute, clock: DatabaseRateLimiter(
        engine, per_minute, clock, sync_interval=3600
    )
    engine.dispose()


async def _take(limiter: RateLimiter, key: str, times: int) -> list[int | None]:
    return [await limiter.retry_after(key) for _ in range(times)]


@pytest.mark.anyio
async def test_limit_then_retry_after_then_allowed(make_limiter: Factory) -> None:
    clock = FakeClock(START + 10)
    key = _key()
    async with contextlib.aclosing(make_limiter(5, clock)) as limiter:
        assert await _take(limiter, key, 5) == [None] * 5
        # 50 s to the window's end, then 12 s until 5 x 48/60 + 1 = 5.
        assert await _take(limiter, key, 3) == [62, 62, 62]
        clock.now += 61
        assert await limiter.retry_after(key) == 1
        clock.now += 1
        assert await limiter.retry_after(key) is None
        assert await limiter.retry_after(key) is not None


@pytest.mark.anyio
async def test_keys_are_independent(make_limiter: Factory) -> None:
    clock = FakeClock()
    first, second = _key(), _key()
    async with contextlib.aclosing(make_limiter(3, clock)) as limiter:
        assert await _take(limiter, first, 4) == [None, None, None, 60 + 20]
        assert await _take(limiter, second, 3) == [None] * 3


@pytest.mark.anyio
async def test_forget_lets_every_key_start_afresh(make_limiter: Factory) -> None:
    clock = FakeClock()
    first, second = _key(), _key()
    async with contextlib.aclosing(make_limiter(2, clock)) as limiter:
        assert await _take(limiter, first, 3) == [None, None, 60 + 30]
        assert await _take(limiter, second, 2) == [None, None]
        await limiter.forget()
        assert await _take(limiter, first, 3) == [None, None, 60 + 30]
        assert await _take(limiter, second, 2) == [None, None]


@pytest.mark.anyio
async def test_forget_deletes_the_shared_counts(engines: Callable[[], Engine]) -> None:
    engine = engines()
    key = _key()
    async with contextlib.aclosing(
        DatabaseRateLimiter(engine, 5, FakeClock(), sync_interval=3600)
    ) as limiter:
        await _take(limiter, key, 3)
        await limiter.sync_now()
        assert _stored(engine, key) == 3
        await limiter.forget()
        assert _stored(engine, key) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("redis_url", [None, REDIS_URL])
async def test_build_rate_limiter(redis_url: str | None, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    async with contextlib.aclosing(build_rate_limiter(0, redis_url, engine)) as unlimited:
        assert isinstance(unlimited, Unlimited)
        assert await _take(unlimited, _key(), 1000) == [None] * 1000
    async with contextlib.aclosing(build_rate_limiter(600, redis_url, engine)) as limiter:
        kind = DatabaseRateLimiter if redis_url is None else RedisRateLimiter
        assert isinstance(limiter, kind)
        assert limiter.per_minute == 600
    engine.dispose()


@pytest.mark.anyio
async def test_database_replicas_share_the_limit_after_a_sync(
    engines: Callable[[], Engine],
) -> None:
    clock = FakeClock(START + 10)
    key = _key()
    first = DatabaseRateLimiter(engines(), 10, clock, sync_interval=3600)
    second = DatabaseRateLimiter(engines(), 10, clock, sync_interval=3600)
    async with contextlib.aclosing(first), contextlib.aclosing(second):
        assert await _take(first, key, 5) == [None] * 5
        assert await _take(second, key, 5) == [None] * 5
        # Whichever syncs first learns the other's requests on its next sync.
        for limiter in (first, second, first):
            await limiter.sync_now()
        # 50 s to the window's end, then 6 s until 10 x 54/60 + 1 = 10.
        assert await first.retry_after(key) == 56
        assert await second.retry_after(key) == 56
        for limiter in (first, second):
            await limiter.sync_now()
        assert _stored(engines(), key) == 10  # refused requests are not counted


@pytest.mark.anyio
async def test_database_limiter_sends_no_statement_per_request(
    engines: Callable[[], Engine],
) -> None:
    engine = engines()
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*args: Any) -> None:
        statements.append(args[2])

    key = _key()
    async with contextlib.aclosing(
        DatabaseRateLimiter(engine, 1000, FakeClock(), sync_interval=3600)
    ) as limiter:
        assert await _take(limiter, key, 100) == [None] * 100
        assert statements == []
        await limiter.sync_now()
        assert statements
        assert _stored(engine, key) == 100


@pytest.mark.anyio
async def test_database_limiter_syncs_in_the_background_and_on_close(
    engines: Callable[[], Engine],
) -> None:
    engine = engines()
    background, on_close = _key(), _key()
    async with contextlib.aclosing(
        DatabaseRateLimiter(engine, 10, FakeClock(), sync_interval=0.02)
    ) as limiter:
        await _take(limiter, background, 3)
        for _ in range(250):
            if _stored(engine, background) == 3:
                break
            await anyio.sleep(0.02)
        assert _stored(engine, background) == 3
    limiter = DatabaseRateLimiter(engine, 10, FakeClock(), sync_interval=3600)
    await _take(limiter, on_close, 2)
    await limiter.aclose()
    assert _stored(engine, on_close) == 2


@pytest.mark.anyio
async def test_database_sync_deletes_old_windows(engines: Callable[[], Engine]) -> None:
    engine = engines()
    stale, key = _key(), _key()
    window, _ = window_of(START)
    with engine.begin() as conn:
        conn.execute(insert(rate_counts).values(token_hash=stale, window=window - 2, count=7))
    async with contextlib.aclosing(
        DatabaseRateLimiter(engine, 10, FakeClock(), sync_interval=3600)
    ) as limiter:
        await limiter.retry_after(key)
        await limiter.sync_now()
    assert _stored(engine, stale) == 0
    assert _stored(engine, key) == 1


@pytest.mark.anyio
async def test_failed_database_sync_keeps_the_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'not_migrated_yet.db'}")
    key = _key()
    async with contextlib.aclosing(
        DatabaseRateLimiter(engine, 10, FakeClock(), sync_interval=3600)
    ) as limiter:
        await _take(limiter, key, 4)
        with caplog.at_level(logging.WARNING, "product_media.storage.rate_limits"):
            await limiter.sync_now()
        assert "database sync failed" in caplog.text
        migrate(engine)
        await _take(limiter, key, 2)
        await limiter.sync_now()
        assert _stored(engine, key) == 6
    engine.dispose()


@pytest.mark.anyio
async def test_redis_replicas_share_the_limit_at_once(redis_prefix: str) -> None:
    clock = FakeClock(START + 10)
    key = _key()
    first = RedisRateLimiter(REDIS_URL, 10, clock, prefix=redis_prefix)
    second = RedisRateLimiter(REDIS_URL, 10, clock, prefix=redis_prefix)
    async with contextlib.aclosing(first), contextlib.aclosing(second):
        assert await _take(first, key, 5) == [None] * 5
        assert await _take(second, key, 5) == [None] * 5
        assert await first.retry_after(key) == 56
        assert await second.retry_after(key) == 56


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.anyio
async def test_redis_down_fails_open_and_warns_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    async with contextlib.aclosing(RedisRateLimiter(url, 2, clock, timeout=0.2)) as limiter:
        with caplog.at_level(logging.WARNING, "product_media.storage.rate_limits"):
            started = time.monotonic()
            assert await _take(limiter, _key(), 10) == [None] * 10
            assert time.monotonic() - started < 2
            assert len(caplog.records) == 1
            clock.now += 61
            await limiter.retry_after(_key())
            assert len(caplog.records) == 2
