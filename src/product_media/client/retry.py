"""When a failed call is tried again, and after how long: a pure rule.

A call is tried again only when doing so cannot do its work twice. `429` is a refusal before
any work, so every call waits the `Retry-After` it names. A connection that was never made
means the server saw nothing, so every call may try again. A `5xx` or a connection lost
after the request went out may have done the work: only calls that are safe to repeat (reads,
`PUT`, `DELETE`, the calls that replace one thing) try again then.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRIED_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class Refused:
    """The server answered `status`, with this `Retry-After` header if any."""

    status: int
    retry_after: str | None = None


@dataclass(frozen=True)
class Unreachable:
    """No answer; `sent` when the request may have reached the server."""

    sent: bool


Outcome = Refused | Unreachable


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries at most (the first included); backoff doubles from `backoff` up to
    `max_backoff` seconds, half of it random; a `Retry-After` longer than `max_retry_after`
    is not waited for."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def delay(
        self,
        attempt: int,
        outcome: Outcome,
        safe_to_repeat: bool,
        random: Callable[[], float],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> float | None:
        """Seconds to wait before try `attempt + 1`, or None to give up after try `attempt`."""
        if attempt >= self.attempts:
            return None
        backoff = self._backoff(attempt, random)
        if isinstance(outcome, Unreachable):
            return backoff if safe_to_repeat or not outcome.sent else None
        if outcome.status == 429:
            wait = retry_after_seconds(outcome.retry_after, now())
            if wait is None:
                return backoff
            return wait if wait <= self.max_retry_after else None
        if outcome.status in RETRIED_STATUSES and safe_to_repeat:
            wait = retry_after_seconds(outcome.retry_after, now())
            if wait is not None and wait > self.max_retry_after:
                return None
            return max(backoff, wait or 0.0)
        return None

    def _backoff(self, attempt: int, random: Callable[[], float]) -> float:
        ceiling: float = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random() * ceiling / 2


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now`: delay-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, math.ceil((moment - now).total_seconds()))
