"""Requests that write, counted while they run (their clean-up included), so that a stopping
server can wait for them before it gives up its lease."""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class WritesInFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = anyio.Event()
        self._idle.set()

    def enter(self) -> None:
        if self.count == 0:
            self._idle = anyio.Event()
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, seconds: float) -> bool:
        """Whether every write ended within `seconds`."""
        with anyio.move_on_after(seconds):
            await self._idle.wait()
        return self.count == 0


class CountWrites:
    """ASGI middleware: every request that is not a read counts while it runs. A request the
    server cancels at shutdown counts until its shielded clean-up is over too."""

    def __init__(self, app: ASGIApp, writes: WritesInFlight) -> None:
        self.app = app
        self.writes = writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        self.writes.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.writes.leave()
