"""When the client tries a call again, and after how long: a table of cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from product_media.client.retry import (
    Outcome,
    Refused,
    RetryPolicy,
    Unreachable,
    retry_after_seconds,
)

NOW = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
POLICY = RetryPolicy(attempts=4, backoff=1.0, max_backoff=3.0, max_retry_after=60.0)


def delay(attempt: int, outcome: Outcome, safe: bool, fraction: float = 1.0) -> float | None:
    return POLICY.delay(attempt, outcome, safe, lambda: fraction, now=lambda: NOW)


@pytest.mark.parametrize(
    ("attempt", "outcome", "safe", "expected"),
    [
        # 429 is a refusal before any work: every call waits what the server says.
        (1, Refused(429, "7"), False, 7.0),
        (1, Refused(429, "7"), True, 7.0),
        (1, Refused(429, "Fri, 01 May 2026 10:00:09 GMT"), False, 9.0),
        (1, Refused(429, None), False, 1.0),
        (1, Refused(429, "soon"), False, 1.0),
        (1, Refused(429, "61"), True, None),
        (4, Refused(429, "1"), True, None),
        # 5xx may have done the work: only calls safe to repeat try again.
        (1, Refused(500), True, 1.0),
        (2, Refused(502), True, 2.0),
        (3, Refused(503), True, 3.0),
        (3, Refused(504), True, 3.0),
        (1, Refused(503, "5"), True, 5.0),
        (1, Refused(503, "600"), True, None),
        (1, Refused(500), False, None),
        (1, Refused(503, "1"), False, None),
        (4, Refused(500), True, None),
        # Other statuses are answers, not accidents.
        (1, Refused(400), True, None),
        (1, Refused(404), True, None),
        (1, Refused(422), True, None),
        (1, Refused(501), True, None),
        # No connection: the server saw nothing, so any call may try again.
        (1, Unreachable(sent=False), False, 1.0),
        (3, Unreachable(sent=False), False, 3.0),
        (4, Unreachable(sent=False), False, None),
        # An answer lost after the request went out: only calls safe to repeat.
        (1, Unreachable(sent=True), True, 1.0),
        (1, Unreachable(sent=True), False, None),
    ],
)
def test_retry_rules(attempt: int, outcome: Outcome, safe: bool, expected: float | None) -> None:
    assert delay(attempt, outcome, safe) == expected


@pytest.mark.parametrize(
    ("attempt", "fraction", "expected"),
    [(1, 0.0, 0.5), (1, 0.5, 0.75), (2, 0.0, 1.0), (3, 0.0, 1.5), (3, 1.0, 3.0)],
)
def test_backoff_doubles_to_a_ceiling_with_half_of_it_random(
    attempt: int, fraction: float, expected: float
) -> None:
    assert delay(attempt, Unreachable(sent=False), True, fraction) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        ("-3", None),
        ("1.5", None),
        ("Fri, 01 May 2026 10:01:00 GMT", 60.0),
        ("Fri, 01 May 2026 09:59:00 GMT", 0.0),
        ("not a date", None),
    ],
)
def test_retry_after_header(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, NOW) == expected
