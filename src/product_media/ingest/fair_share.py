"""Slots for sources shared fairly between stores, and between the tokens of one store.

Hand-written because asyncio's Semaphore and anyio's CapacityLimiter serve one FIFO queue and
know no keys: one store's queue would stand in front of everyone else's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

K = TypeVar("K")


@dataclass(eq=False)
class _Waiter:
    event: anyio.Event = field(default_factory=anyio.Event)
    granted: bool = False


@dataclass(eq=False)
class _Share:
    """A store's or a token's part: the slots it holds, and when it was last served, counted
    in grants: 2n for the n-th grant. A newcomer counts as served at 2n - 1, n the grants so
    far: after everyone that waited since before the latest grant, before the one that had
    it."""

    served: int
    held: int = 0

    def wants(self) -> bool:
        raise NotImplementedError


@dataclass(eq=False)
class _Token(_Share):
    waiters: deque[_Waiter] = field(default_factory=deque)

    def wants(self) -> bool:
        return bool(self.waiters)


@dataclass(eq=False)
class _Store(_Share):
    tokens: dict[str, _Token] = field(default_factory=dict)

    def wants(self) -> bool:
        return any(token.waiters for token in self.tokens.values())


def _fairest(shares: Mapping[K, _Share]) -> K | None:
    """The key of the waiting share that holds the fewest slots; among those, the one served
    longest ago (then the earliest to arrive); None if nobody waits."""
    waiting = [key for key, share in shares.items() if share.wants()]
    return min(waiting, key=lambda key: (shares[key].held, shares[key].served), default=None)


class FairShare:
    """At most `capacity` slots at once, at most `per_store` of them held by one store.

    A free slot goes to the waiting store that holds the fewest (ties: the one served longest
    ago, which makes equal stores take turns), skipping stores at their cap; within that store
    to the token that holds the fewest (ties likewise); within the token, to its oldest waiter.
    So a store holding nothing waits for at most one grant per other waiting store, however
    many waiters those have queued.
    """

    def __init__(self, capacity: int, per_store: int) -> None:
        if capacity < 1 or per_store < 1:
            raise ValueError("capacity and per_store must be at least 1")
        self.capacity = capacity
        self.per_store = per_store
        self._in_use = 0
        self._grants = 0
        # Stores (and their tokens) that hold or wait for a slot; forgotten when they do neither.
        self._stores: dict[int, _Store] = {}

    @property
    def in_use(self) -> int:
        return self._in_use

    def held(self, store_id: int) -> int:
        store = self._stores.get(store_id)
        return 0 if store is None else store.held

    @property
    def waiting(self) -> int:
        return sum(
            len(token.waiters) for store in self._stores.values() for token in store.tokens.values()
        )

    @asynccontextmanager
    async def slot(self, store_id: int, token: str) -> AsyncIterator[None]:
        """Hold one slot for the body; waits (cancellably) until one is granted."""
        await self._acquire(store_id, token)
        try:
            yield
        finally:
            self._release(store_id, token)

    async def _acquire(self, store_id: int, token: str) -> None:
        arrival = 2 * self._grants - 1
        store = self._stores.setdefault(store_id, _Store(arrival))
        share = store.tokens.setdefault(token, _Token(arrival))
        waiter = _Waiter()
        share.waiters.append(waiter)
        self._dispatch()
        if waiter.granted:
            return
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                # Granted just as it was cancelled: the slot goes to the next in line.
                self._release(store_id, token)
            else:
                share.waiters.remove(waiter)
                self._forget_if_idle(store_id, token)
            raise

    def _release(self, store_id: int, token: str) -> None:
        store = self._stores[store_id]
        store.held -= 1
        store.tokens[token].held -= 1
        self._in_use -= 1
        self._forget_if_idle(store_id, token)
        self._dispatch()

    def _forget_if_idle(self, store_id: int, token: str) -> None:
        store = self._stores[store_id]
        share = store.tokens[token]
        if not share.held and not share.waiters:
            del store.tokens[token]
        if not store.tokens:
            del self._stores[store_id]

    def _dispatch(self) -> None:
        """Grant free slots to waiters, the fairest first."""
        while self._in_use < self.capacity:
            below_cap = {k: s for k, s in self._stores.items() if s.held < self.per_store}
            store_id = _fairest(below_cap)
            if store_id is None:
                return
            store = self._stores[store_id]
            token = _fairest(store.tokens)
            assert token is not None, "a store that wants a slot has a token that waits"
            share = store.tokens[token]
            waiter = share.waiters.popleft()
            self._grants += 1
            self._in_use += 1
            for part in (store, share):
                part.held += 1
                part.served = 2 * self._grants
            waiter.granted = True
            waiter.event.set()
