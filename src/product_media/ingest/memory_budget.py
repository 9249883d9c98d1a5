"""A budget of bytes that image decodes draw on, so that memory stays bounded however many
workers there are. Hand-written: neither asyncio nor anyio has a weighted semaphore."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class MemoryBudget:
    """First come, first served: a large request is never starved by a stream of small ones."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a memory budget needs at least one byte")
        self.capacity = capacity
        self._free = capacity
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def free(self) -> int:
        return self._free

    @asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[int]:
        """Hold `amount` bytes (at most the whole budget, so anything can run alone); yields
        what is held."""
        amount = max(0, min(amount, self.capacity))
        await self._acquire(amount)
        try:
            yield amount
        finally:
            self._release(amount)

    async def _acquire(self, amount: int) -> None:
        if not self._waiters and amount <= self._free:
            self._free -= amount
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((amount, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Granted just as the caller was cancelled: give it back.
                self._release(amount)
            else:
                self._waiters.remove((amount, waiter))
                self._wake()
            raise

    def _release(self, amount: int) -> None:
        self._free += amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._free:
            amount, waiter = self._waiters.popleft()
            self._free -= amount
            waiter.set_result(None)
