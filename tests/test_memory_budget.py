"""The byte budget that image decodes draw on."""

from __future__ import annotations

import asyncio

import pytest

from product_media.ingest.memory_budget import MemoryBudget


def test_holders_never_exceed_the_budget_and_are_served_in_order() -> None:
    async def main() -> tuple[list[str], int]:
        budget = MemoryBudget(100)
        order: list[str] = []
        held = 0
        peak = 0

        async def use(name: str, amount: int, seconds: float) -> None:
            nonlocal held, peak
            async with budget.hold(amount):
                order.append(name)
                held += amount
                peak = max(peak, held)
                await asyncio.sleep(seconds)
                held -= amount

        async def staggered(name: str, amount: int, seconds: float, delay: float) -> None:
            await asyncio.sleep(delay)
            await use(name, amount, seconds)

        await asyncio.gather(
            staggered("a", 60, 0.05, 0),
            staggered("b", 60, 0.01, 0.01),  # waits for a
            staggered("c", 10, 0.01, 0.02),  # fits now, but queues behind b: no overtaking
            staggered("d", 30, 0.01, 0.03),
        )
        assert budget.free == 100
        return order, peak

    order, peak = asyncio.run(main())
    assert order == ["a", "b", "c", "d"]
    assert peak <= 100


def test_more_than_the_budget_runs_alone() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        async with budget.hold(10**12):
            assert budget.free == 0
        assert budget.free == 100

    asyncio.run(main())


def test_a_cancelled_waiter_gives_its_place_back() -> None:
    async def main() -> None:
        budget = MemoryBudget(100)
        got: list[str] = []

        async def take(name: str, amount: int) -> None:
            async with budget.hold(amount):
                got.append(name)
                await asyncio.sleep(0.02)

        first = asyncio.create_task(take("first", 80))
        await asyncio.sleep(0)
        blocked = asyncio.create_task(take("blocked", 90))
        await asyncio.sleep(0)
        small = asyncio.create_task(take("small", 20))
        await asyncio.sleep(0)
        blocked.cancel()
        await asyncio.gather(first, small, return_exceptions=True)
        with pytest.raises(asyncio.CancelledError):
            await blocked
        assert got == ["first", "small"]
        assert budget.free == 100

    asyncio.run(main())


def test_an_empty_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        MemoryBudget(0)
