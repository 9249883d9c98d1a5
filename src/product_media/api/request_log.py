"""The emulator's log of the last API calls, held in this server process (one worker)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

KEPT = 1000


@dataclass(frozen=True)
class LoggedCall:
    method: str
    # Never the query string, where legacy clients put their token.
    path: str
    status: int
    duration_ms: float
    request_id: str


class RequestLog:
    """Written and read on the event loop alone."""

    def __init__(self, kept: int = KEPT) -> None:
        self._calls: deque[LoggedCall] = deque(maxlen=kept)

    def add(self, call: LoggedCall) -> None:
        self._calls.append(call)

    def newest_first(self) -> list[LoggedCall]:
        return list(reversed(self._calls))
