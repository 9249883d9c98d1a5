"""FairShare on its own: who holds a slot after each step of a scripted scenario."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
import pytest

from product_media.ingest.fair_share import FairShare


async def settle() -> None:
    """Let every woken task run until it blocks again (a hand-off takes a few rounds)."""
    for _ in range(10):
        await anyio.lowlevel.checkpoint()


@dataclass
class Harness:
    """Waiters as tasks, each named, holding its slot until told to let go."""

    share: FairShare
    tasks: anyio.abc.TaskGroup
    holding: list[str] = field(default_factory=list)
    granted: list[str] = field(default_factory=list)
    _done: dict[str, anyio.Event] = field(default_factory=dict)
    _scopes: dict[str, anyio.CancelScope] = field(default_factory=dict)
    stores: dict[str, int] = field(default_factory=dict)

    def want(self, name: str, store: int, token: str) -> None:
        self._done[name] = anyio.Event()
        self._scopes[name] = anyio.CancelScope()
        self.stores[name] = store
        self.tasks.start_soon(self._hold, name, store, token)

    async def _hold(self, name: str, store: int, token: str) -> None:
        with self._scopes[name]:
            async with self.share.slot(store, token):
                self.holding.append(name)
                self.granted.append(name)
                try:
                    await self._done[name].wait()
                finally:
                    self.holding.remove(name)

    def done(self, name: str) -> None:
        self._done[name].set()

    def cancel(self, name: str) -> None:
        self._scopes[name].cancel()

    def step(self, line: str) -> None:
        """`+a1 1 x`: a1 wants a slot for store 1, token x; `-a1`: a1 lets go; `!a1`: a1 is
        cancelled. Several, space-separated words after the first are one step."""
        words = line.split()
        while words:
            word = words.pop(0)
            name = word[1:]
            if word[0] == "+":
                self.want(name, int(words.pop(0)), words.pop(0))
            elif word[0] == "-":
                self.done(name)
            else:
                self.cancel(name)


# (name, capacity, per store, [(step, holders after it)])
SCENARIOS: list[tuple[str, int, int, list[tuple[str, str]]]] = [
    (
        "FIFO within a token",
        1,
        1,
        [("+a1 1 x", "a1"), ("+a2 1 x", "a1"), ("+a3 1 x", "a1"), ("-a1", "a2"), ("-a2", "a3")],
    ),
    (
        "at most capacity in all",
        2,
        5,
        [("+a1 1 x +b1 2 x +c1 3 x", "a1 b1"), ("-a1", "b1 c1"), ("-b1 -c1", "")],
    ),
    (
        "at most per_store for one store, even with capacity free",
        4,
        2,
        [
            ("+a1 1 x +a2 1 y +a3 1 z", "a1 a2"),
            ("+b1 2 x", "a1 a2 b1"),
            ("-a1", "a2 a3 b1"),
        ],
    ),
    (
        "stores take turns, whatever one of them queued",
        1,
        5,
        [
            ("+a1 1 x +a2 1 x +a3 1 x +a4 1 x", "a1"),
            ("+b1 2 x +b2 2 x +c1 3 x", "a1"),
            ("-a1", "b1"),
            ("-b1", "c1"),
            ("-c1", "a2"),
            ("-a2", "b2"),
            ("-b2", "a3"),
        ],
    ),
    (
        "tokens of one store take turns",
        1,
        1,
        [
            ("+a1 1 x +a2 1 x +a3 1 x +a4 1 y +a5 1 z", "a1"),
            ("-a1", "a4"),
            ("-a4", "a5"),
            ("-a5", "a2"),
            ("-a2", "a3"),
        ],
    ),
    (
        "the store holding fewest goes first",
        4,
        4,
        [
            ("+a1 1 x +a2 1 x +a3 1 x +b1 2 x", "a1 a2 a3 b1"),
            ("+a4 1 x +b2 2 x", "a1 a2 a3 b1"),
            ("-a1", "a2 a3 b1 b2"),
            ("-a2", "a3 a4 b1 b2"),
        ],
    ),
    (
        "a late store is not starved",
        2,
        2,
        [
            (" ".join(f"+a{i} 1 t{i % 3}" for i in range(1, 30)), "a1 a2"),
            ("+b1 2 x", "a1 a2"),
            ("-a1", "a2 b1"),
        ],
    ),
    (
        "a cancelled waiter leaves the queue",
        1,
        1,
        [
            ("+a1 1 x +b1 2 x +c1 3 x", "a1"),
            ("!b1", "a1"),
            ("-a1", "c1"),
            ("-c1", ""),
        ],
    ),
    (
        "a store whose waiters were all cancelled comes back as a newcomer",
        1,
        1,
        [
            ("+a1 1 x +b1 2 x", "a1"),
            ("!b1", "a1"),
            ("+c1 3 x +b2 2 x", "a1"),
            ("-a1", "c1"),
            ("-c1", "b2"),
        ],
    ),
    (
        "a slot granted as its waiter is cancelled goes to the next one",
        1,
        1,
        [
            ("+a1 1 x +b1 2 x +c1 3 x", "a1"),
            # a1 lets go first, so b1 is granted the slot before it sees its cancellation.
            ("-a1 !b1", "c1"),
            ("-c1", ""),
        ],
    ),
    (
        "a holder cancelled lets go of its slot",
        1,
        1,
        [("+a1 1 x +b1 2 x", "a1"), ("!a1", "b1")],
    ),
]


@pytest.mark.parametrize(
    ("capacity", "per_store", "steps"),
    [pytest.param(*row[1:], id=row[0]) for row in SCENARIOS],
)
def test_scenario(capacity: int, per_store: int, steps: list[tuple[str, str]]) -> None:
    async def main() -> None:
        share = FairShare(capacity, per_store)
        async with anyio.create_task_group() as tasks:
            harness = Harness(share, tasks)
            for number, (line, expected) in enumerate(steps, 1):
                harness.step(line)
                await settle()
                assert sorted(harness.holding) == expected.split(), f"step {number}: {line}"
                assert share.in_use == len(harness.holding)
            tasks.cancel_scope.cancel()
        assert share.in_use == 0 and share.waiting == 0

    anyio.run(main)


def test_many_stores_every_grant_goes_to_a_store_holding_fewest() -> None:
    """Twenty stores queue five each at once. Each freed slot goes to a waiting store that
    holds no more than any other waiting store below its cap, and in the end all are served."""
    capacity, per_store = 4, 2

    async def main() -> None:
        share = FairShare(capacity, per_store)
        async with anyio.create_task_group() as tasks:
            harness = Harness(share, tasks)
            for store in range(1, 21):
                for i in range(5):
                    harness.want(f"s{store}-{i}", store, f"t{i % 2}")
            await settle()
            # The first four went at once: two to store 1, then two to store 2 (the cap).
            assert [harness.stores[name] for name in harness.granted] == [1, 1, 2, 2]
            while harness.holding:
                leaving = harness.holding[0]
                held = {s: share.held(s) for s in range(1, 21)}
                held[harness.stores[leaving]] -= 1
                wanting = {s for s in held if any(harness.stores[n] == s for n in _queued(harness))}
                before = len(harness.granted)
                harness.done(leaving)
                await settle()
                new = harness.granted[before:]
                assert len(new) == (1 if wanting else 0)
                for name in new:
                    store = harness.stores[name]
                    rivals = [held[s] for s in wanting if held[s] < per_store]
                    assert held[store] == min(rivals), (name, held)
                assert share.in_use <= capacity
                assert all(share.held(s) <= per_store for s in held)
            # Stores 3 to 20 held nothing: each had its first slot before any store its third.
            firsts = [harness.stores[n] for n in harness.granted if n.endswith("-0")]
            assert firsts == list(range(1, 21))
        assert len(harness.granted) == 100
        assert share.in_use == 0 and share.waiting == 0

    anyio.run(main)


def _queued(harness: Harness) -> list[str]:
    """Waiters not granted yet."""
    return [name for name in harness.stores if name not in harness.granted]


def test_random_cancellations_and_releases_never_leak_a_slot() -> None:
    rng = random.Random(7)

    async def main() -> None:
        share = FairShare(3, 2)
        async with anyio.create_task_group() as tasks:
            harness = Harness(share, tasks)
            names = []
            for i in range(200):
                name = f"w{i}"
                harness.want(name, rng.randint(1, 6), rng.choice("xyz"))
                names.append(name)
                if rng.random() < 0.5:
                    await settle()
                for _ in range(rng.randint(0, 2)):
                    victim = rng.choice(names)
                    (harness.cancel if rng.random() < 0.5 else harness.done)(victim)
                assert share.in_use <= 3
            for name in names:
                harness.done(name)
            await settle()
        assert share.in_use == 0 and share.waiting == 0

    anyio.run(main)
