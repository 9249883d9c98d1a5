"""The emulator's log of the last API calls, held in this server process (one worker)."""

from __future__ import annotations

import threading
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
    def __init__(self, kept: int = KEPT) -> None:
        self._calls: deque[LoggedCall] = deque(maxlen=kept)
        self._lock = threading.Lock()

    def add(self, call: LoggedCall) -> None:
        with self._lock:
            self._calls.append(call)

    def newest_first(self) -> list[LoggedCall]:
        with self._lock:
            return list(reversed(self._calls))
