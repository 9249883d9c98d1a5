"""Requests per minute per token, shared by every replica: in Redis when it is configured, else
in the catalog database.

Both count with a sliding window (the approximation Cloudflare describes): fixed 60-second
windows, and the estimate for the last 60 seconds is this window's count plus the previous
window's count weighted by the part of it still inside those 60 seconds. A request is admitted
when the estimate, the request included, stays within the limit; a refused request is not
counted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, Executable, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from product_media.storage.engine import is_postgresql, write_transaction
from product_media.storage.tables import rate_counts

log = logging.getLogger(__name__)

WINDOW = 60  # seconds

# How often a failing Redis or database is reported while it keeps failing.
_WARN_EVERY = 60.0

# Tokens per read-back query, well under every driver's limit on bound parameters.
_READ_BATCH = 500
# Keys per DEL when a reset drops every count.
_DELETE_BATCH = 500

Clock = Callable[[], float]


class RateLimiter(Protocol):
    per_minute: int

    async def retry_after(self, key: str) -> int | None:
        """Take one request for `key`: None if it is allowed, else the whole seconds (>= 1)
        until `key` may call again."""
        ...

    async def forget(self) -> None:
        """Drop every count, so that every key starts afresh (the emulator's reset)."""
        ...

    async def aclose(self) -> None: ...


def window_of(now: float) -> tuple[int, float]:
    """The window `now` (epoch seconds) falls in, and the seconds since that window began."""
    window = math.floor(now / WINDOW)
    return window, now - window * WINDOW


def admits(previous: int, current: int, elapsed: float, limit: int) -> bool:
    """Whether one more request fits: the counts of the previous and the current window,
    `elapsed` seconds into the current one. The Redis script repeats this expression."""
    return previous * (WINDOW - elapsed) / WINDOW + current + 1 <= limit


def wait_seconds(previous: int, current: int, elapsed: float, limit: int) -> int:
    """For a request `admits` refuses: the whole seconds (>= 1) until one would be admitted,
    if nothing more is counted meanwhile."""
    if current < limit:
        # Only the previous window's weight is in the way; it fades within this window.
        faded = WINDOW * (previous - (limit - current - 1)) / previous
        wait = faded - elapsed
    else:
        # This window alone is full: once it is over it becomes the previous window, whose
        # weight must then fade in turn.
        wait = WINDOW - elapsed + WINDOW * (current - (limit - 1)) / current
    return max(1, math.ceil(wait))


class Unlimited:
    """No limit at all (`rate_limit_per_minute` 0)."""

    per_minute = 0

    async def retry_after(self, key: str) -> int | None:
        return None

    async def forget(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _Warnings:
    """Logs a warning at most once every `_WARN_EVERY` seconds: an outage is worth one line a
    minute, not one per request."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: float | None = None

    def warn(self, message: str, *args: object) -> None:
        now = self._clock()
        if self._last is None or now - self._last >= _WARN_EVERY:
            self._last = now
            log.warning(message, *args)


def _check_limit(per_minute: int) -> None:
    if per_minute < 1:
        raise ValueError(f"per_minute must be at least 1 (0 means Unlimited), not {per_minute}")


# KEYS: the previous and the current window's counters. ARGV: the limit, the seconds into the
# current window, the window's length. Returns {admitted, previous count, current count}.
_REDIS_SCRIPT = """
local previous = tonumber(redis.call('GET', KEYS[1]) or 0)
local current = tonumber(redis.call('GET', KEYS[2]) or 0)
local limit = tonumber(ARGV[1])
local elapsed = tonumber(ARGV[2])
local length = tonumber(ARGV[3])
if previous * (length - elapsed) / length + current + 1 > limit then
  return {0, previous, current}
end
current = redis.call('INCR', KEYS[2])
if current == 1 then
  redis.call('EXPIRE', KEYS[2], 2 * length)
end
return {1, previous, current}
"""


class RedisRateLimiter:
    """The limit kept in Redis: one script call (one round trip) per request, exact across
    replicas. Windows follow each replica's own clock, which NTP keeps close enough for
    60-second windows."""

    def __init__(
        self,
        url: str,
        per_minute: int,
        clock: Clock = time.time,
        *,
        prefix: str = "product_media:rate",
        timeout: float = 0.5,
    ) -> None:
        _check_limit(per_minute)
        self.per_minute = per_minute
        self._clock = clock
        self._prefix = prefix
        # Every request waits on this call, so an unreachable Redis must fail fast: short
        # timeouts and no retries (redis-py retries with backoff by default).
        self._client = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(_REDIS_SCRIPT)
        self._warnings = _Warnings(clock)

    def _key(self, key: str, window: int) -> str:
        # The braces make `key` a Redis Cluster hash tag: both windows of a token land in one
        # slot, as the keys of one script must.
        return f"{self._prefix}:{{{key}}}:{window}"

    async def retry_after(self, key: str) -> int | None:
        window, elapsed = window_of(self._clock())
        try:
            reply: list[Any] = await self._script(
                keys=[self._key(key, window - 1), self._key(key, window)],
                args=[self.per_minute, repr(elapsed), WINDOW],
            )
        except RedisError as exc:
            # Fail open: a Redis outage must not take the whole API down with it; the limit
            # protects the service, and answering without it for a while is the lesser harm.
            self._warnings.warn("rate limit: Redis unavailable, not limiting (%s)", exc)
            return None
        admitted, previous, current = (int(value) for value in reply)
        if admitted:
            return None
        return wait_seconds(previous, current, elapsed, self.per_minute)

    async def forget(self) -> None:
        try:
            keys = [key async for key in self._client.scan_iter(match=f"{self._prefix}:*")]
            for start in range(0, len(keys), _DELETE_BATCH):
                await self._client.delete(*keys[start : start + _DELETE_BATCH])
        except RedisError as exc:
            self._warnings.warn("rate limit: Redis unavailable, counts not dropped (%s)", exc)

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass
class _TokenCounts:
    """One token's requests per window: in the database as of the last sync, and admitted by
    this process since."""

    shared: dict[int, int] = field(default_factory=dict)
    unsynced: dict[int, int] = field(default_factory=dict)

    def total(self, window: int) -> int:
        return self.shared.get(window, 0) + self.unsynced.get(window, 0)


def _add_statement(conn: Connection) -> Executable:
    """Adds `:count` to the row of (`:token_hash`, `:window`) and returns the new total."""
    keys = [rate_counts.c.token_hash, rate_counts.c.window]
    if is_postgresql(conn):
        pg = postgresql.insert(rate_counts)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={"count": rate_counts.c["count"] + pg.excluded["count"]}
        ).returning(rate_counts.c["count"])
    lite = sqlite.insert(rate_counts)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={"count": rate_counts.c["count"] + lite.excluded["count"]}
    ).returning(rate_counts.c["count"])


class DatabaseRateLimiter:
    """The limit kept in the `rate_counts` table without a database call per request.

    Each process decides on the shared counts as of its last sync plus what it admitted since,
    and a background task syncs every `sync_interval` seconds (one upsert per token and window
    with new requests, and a read of the counts of the tokens it serves). What the other
    processes admitted since their last sync is unseen, so the limit can be overrun by at most
    (other processes) x (requests each admits for the token within one sync interval); with
    one process, never. Windows follow each process's own clock, as NTP keeps them. Keys
    must fit `rate_counts.token_hash`: 64 characters, a token's SHA-256 in hex.
    """

    def __init__(
        self,
        engine: Engine,
        per_minute: int,
        clock: Clock = time.time,
        sync_interval: float = 1.0,
    ) -> None:
        _check_limit(per_minute)
        self.per_minute = per_minute
        self._engine = engine
        self._clock = clock
        self._sync_interval = sync_interval
        self._tokens: dict[str, _TokenCounts] = {}
        self._sync_lock = asyncio.Lock()
        self._syncer: asyncio.Task[None] | None = None
        self._pruned_window: int | None = None
        self._warnings = _Warnings(clock)

    async def retry_after(self, key: str) -> int | None:
        if self._syncer is None:
            self._syncer = asyncio.create_task(self._sync_forever())
        window, elapsed = window_of(self._clock())
        counts = self._tokens.setdefault(key, _TokenCounts())
        previous, current = counts.total(window - 1), counts.total(window)
        if not admits(previous, current, elapsed, self.per_minute):
            return wait_seconds(previous, current, elapsed, self.per_minute)
        counts.unsynced[window] = counts.unsynced.get(window, 0) + 1
        return None

    async def forget(self) -> None:
        async with self._sync_lock:
            self._tokens.clear()
            await anyio.to_thread.run_sync(self._delete_all)

    def _delete_all(self) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(delete(rate_counts))

    async def aclose(self) -> None:
        """Stops the background sync, then hands in what is still unsynced."""
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.wait([self._syncer])
            self._syncer = None
        await self.sync_now()

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sync_interval)
            try:
                await self.sync_now()
            except Exception:
                # A bug, not an outage (sync_now handles those); sharing must go on regardless.
                log.exception("rate limit: sync failed")

    async def sync_now(self) -> None:
        """Add this process's new requests to the database and learn everyone's counts."""
        async with self._sync_lock:
            if not self._tokens:
                return
            window, _ = window_of(self._clock())
            pending: dict[tuple[str, int], int] = {}
            for token, counts in self._tokens.items():
                # Older windows no longer weigh in any estimate.
                pending.update(
                    ((token, win), n) for win, n in counts.unsynced.items() if win >= window - 1
                )
                counts.unsynced = {}
            served = sorted(self._tokens)
            prune = self._pruned_window != window
            try:
                found = await anyio.to_thread.run_sync(
                    self._exchange, pending, served, window, prune
                )
            except SQLAlchemyError as exc:
                for (token, win), n in pending.items():
                    unsynced = self._tokens[token].unsynced
                    unsynced[win] = unsynced.get(win, 0) + n
                self._warnings.warn("rate limit: database sync failed, will retry (%s)", exc)
                return
            if prune:
                self._pruned_window = window
            for token in served:
                counts = self._tokens[token]
                counts.shared = {win: found.get((token, win), 0) for win in (window - 1, window)}
                if not any(counts.shared.values()) and not counts.unsynced:
                    del self._tokens[token]

    def _exchange(
        self, pending: dict[tuple[str, int], int], served: list[str], window: int, prune: bool
    ) -> dict[tuple[str, int], int]:
        """In a worker thread: the counts of `served` for the previous and current window,
        `pending` added; rows too old to matter deleted when `prune`."""
        found: dict[tuple[str, int], int] = {}
        with write_transaction(self._engine) as conn:
            # Read first: the upserts' totals then overwrite the rows they touch with values at
            # least as fresh.
            for start in range(0, len(served), _READ_BATCH):
                rows = conn.execute(
                    select(rate_counts.c.token_hash, rate_counts.c.window, rate_counts.c["count"])
                    .where(rate_counts.c.token_hash.in_(served[start : start + _READ_BATCH]))
                    .where(rate_counts.c.window >= window - 1)
                )
                found.update(((token, win), count) for token, win, count in rows)
            add = _add_statement(conn)
            # In key order, as every replica does, so that two syncs never wait on each other's
            # row locks in a cycle.
            for (token, win), n in sorted(pending.items()):
                total = conn.execute(add, {"token_hash": token, "window": win, "count": n})
                found[(token, win)] = total.scalar_one()
            if prune:
                conn.execute(delete(rate_counts).where(rate_counts.c.window < window - 1))
        return found


def build_rate_limiter(per_minute: int, redis_url: str | None, engine: Engine) -> RateLimiter:
    """The limiter the settings ask for: none for 0, Redis when configured, else the database."""
    if per_minute == 0:
        return Unlimited()
    if redis_url:
        return RedisRateLimiter(redis_url, per_minute)
    return DatabaseRateLimiter(engine, per_minute)
