"""The faults the emulator injects, held in this server process (the emulator runs with one
worker; other workers of `serve --workers N` know nothing of them)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from product_media.domain.faults import Fault, matches_call, matches_fetch


@dataclass(frozen=True)
class PostedFault:
    id: str
    fault: Fault


class Faults:
    """Posted faults, first posted first matched. A fault that fires uses up one of its
    `times` and is dropped when none is left; one that its probability skips uses none.

    `chance` draws a number in [0, 1) (a seeded one in tests)."""

    def __init__(self, chance: Callable[[], float] = random.random) -> None:
        self._chance = chance
        self._ids = itertools.count(1)
        self._posted: list[PostedFault] = []
        # Used from the event loop alone (routes, middleware, fetches), so without a lock.
        self._left: dict[str, int] = {}

    def add(self, fault: Fault) -> str:
        fault_id = str(next(self._ids))
        self._posted.append(PostedFault(fault_id, fault))
        if fault.times is not None:
            self._left[fault_id] = fault.times
        return fault_id

    def items(self) -> list[PostedFault]:
        return list(self._posted)

    def clear(self) -> int:
        """Delete every fault; how many there were."""
        count = len(self._posted)
        self._posted.clear()
        self._left.clear()
        return count

    def take_call(self, method: str, path: str) -> Fault | None:
        """The fault that fires for an API call, if any."""
        return self._take(lambda fault: matches_call(fault, method, path))

    def take_fetch(self, host: str) -> Fault | None:
        """The fault that fires for a fetch from `host`, if any."""
        return self._take(lambda fault: matches_fetch(fault, host))

    async def before_fetch(self, host: str) -> int | None:
        """Wait as a fault for `host` says; the status its source is to seem to answer, or
        None to fetch as usual."""
        fault = self.take_fetch(host)
        if fault is None:
            return None
        await anyio.sleep(fault.delay_ms / 1000)
        return fault.status

    def _take(self, applies: Callable[[Fault], bool]) -> Fault | None:
        for posted in self._posted:
            if not applies(posted.fault) or self._chance() >= posted.fault.probability:
                continue
            if posted.id in self._left:
                self._left[posted.id] -= 1
                if self._left[posted.id] == 0:
                    del self._left[posted.id]
                    self._posted.remove(posted)
            return posted.fault
        return None
