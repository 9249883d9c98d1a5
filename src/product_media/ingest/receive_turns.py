"""Turns at reading response bodies, so that near sources' bodies arrive one after another.

When sources are near (the same data centre, a CDN edge, loopback), what limits receiving is
the event loop's CPU, not the network. Read side by side, sixteen bodies then all complete
together at the end; read in turn, the first is whole after a sixteenth of that time, and its
image's work starts while the others are still arriving. A turn is only for a body whose
bytes are already waiting: a read that has to wait for the network gives the turn up for good,
a holder that makes no progress loses it, and none keeps it longer than a quantum while others
wait, so a slow or hostile source never holds back anyone else's.

Hand-written: no library schedules stream reads this way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

# A read that takes longer than this waited for the network: the body reads without turns.
STALL_SECONDS = 0.02
# The longest a body keeps its turn while another is waiting.
QUANTUM_SECONDS = 0.1


class ReceiveTurns:
    """Hands the turn to read to one body at a time, first come first served; see the
    module's docstring."""

    def __init__(self, stall: float = STALL_SECONDS, quantum: float = QUANTUM_SECONDS) -> None:
        self._stall = stall
        self._quantum = quantum
        self._holder: Reading | None = None
        # When the holder last received a chunk (or took the turn).
        self._progress = 0.0
        self._queue: deque[tuple[Reading, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Reading]:
        """One body's reading: `turn()` before each read, `received()` after it."""
        reading = Reading(self)
        try:
            yield reading
        finally:
            if self._holder is reading:
                self._hand_over()

    def _grant(self, reading: Reading) -> None:
        self._holder = reading
        self._progress = reading.since = anyio.current_time()

    def _hand_over(self) -> None:
        """The turn to the longest waiting body, if any."""
        self._holder = None
        if self._queue:
            reading, granted = self._queue.popleft()
            self._grant(reading)
            granted.set_result(None)

    async def _take(self, reading: Reading) -> None:
        if self._holder is None and not self._queue:
            self._grant(reading)
            return
        entry = (reading, asyncio.get_running_loop().create_future())
        self._queue.append(entry)
        try:
            while not entry[1].done():
                left = self._progress + self._stall - anyio.current_time()
                if left <= 0:
                    # The holder waits for its network: the next in line goes on meanwhile.
                    self._hand_over()
                else:
                    await asyncio.wait([entry[1]], timeout=left)
        finally:
            if not entry[1].done():
                self._queue.remove(entry)

    def _received(self, reading: Reading, waited: float) -> None:
        if waited >= self._stall:
            reading.free = True
            if self._holder is reading:
                self._hand_over()
        elif self._holder is reading:
            self._progress = now = anyio.current_time()
            if self._queue and now - reading.since >= self._quantum:
                self._hand_over()


class Reading:
    """One body's place among the turns."""

    def __init__(self, turns: ReceiveTurns) -> None:
        self._turns = turns
        # Once a read has had to wait for the network, the body reads without turns.
        self.free = False
        # When it last took the turn.
        self.since = 0.0

    async def turn(self) -> None:
        """Wait until this body may read: at once when it holds the turn or reads freely."""
        if not self.free and self._turns._holder is not self:
            await self._turns._take(self)

    def received(self, waited: float) -> None:
        """After a read that took `waited` seconds."""
        self._turns._received(self, waited)
