"""ReceiveTurns on its own: which body reads when, with reads scripted in-process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import pytest

from product_media.ingest.receive_turns import ReceiveTurns

Read = Callable[[int], Awaitable[None]]


async def ready(_: int) -> None:
    """A chunk that is already waiting: the read takes a loop turn, no time."""
    await anyio.lowlevel.checkpoint()


async def read_body(
    turns: ReceiveTurns, name: str, chunks: int, read: Read, log: list[str]
) -> None:
    """What the fetcher does for one body, logging each chunk as it is read."""
    async with turns.reading() as reading:
        for index in range(chunks):
            await reading.turn()
            started = anyio.current_time()
            await read(index)
            reading.received(anyio.current_time() - started)
            log.append(name)


def runs(log: list[str]) -> list[str]:
    """The log with repeats folded: who read, in which stretches."""
    return [name for i, name in enumerate(log) if i == 0 or log[i - 1] != name]


@pytest.mark.anyio
async def test_bodies_whose_bytes_wait_are_read_one_after_another_in_arrival_order() -> None:
    turns, log = ReceiveTurns(stall=60, quantum=60), []
    async with anyio.create_task_group() as tasks:
        for name in "abc":
            tasks.start_soon(read_body, turns, name, 5, ready, log)
    assert log == ["a"] * 5 + ["b"] * 5 + ["c"] * 5


@pytest.mark.anyio
async def test_a_body_waiting_for_its_network_loses_the_turn_and_then_reads_freely() -> None:
    turns, log = ReceiveTurns(stall=0.05, quantum=60), []
    arrived = anyio.Event()

    async def slow(index: int) -> None:
        if index == 1:
            await arrived.wait()
        await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_body, turns, "slow", 3, slow, log)
        await anyio.lowlevel.checkpoint()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as others:
                others.start_soon(read_body, turns, "b", 3, ready, log)
                others.start_soon(read_body, turns, "c", 3, ready, log)
        # The others went on while the slow one waited, in their order.
        assert log == ["slow", "b", "b", "b", "c", "c", "c"]
        tasks.start_soon(read_body, turns, "d", 50, ready, log)
        await anyio.lowlevel.checkpoint()
        arrived.set()
    # The slow body no longer takes turns: it finished while d still had the turn.
    assert log[7:].count("slow") == 2
    assert log[-1] == "d"


@pytest.mark.anyio
async def test_no_body_keeps_the_turn_longer_than_a_quantum_while_another_waits() -> None:
    turns, log = ReceiveTurns(stall=60, quantum=0.05), []

    async def steady(_: int) -> None:
        await anyio.sleep(0.02)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_body, turns, "steady", 20, steady, log)
        await anyio.lowlevel.checkpoint()
        tasks.start_soon(read_body, turns, "quick", 5, ready, log)
    assert runs(log) == ["steady", "quick", "steady"]
    assert 1 <= log.index("quick") < 20


@pytest.mark.anyio
async def test_alone_a_body_keeps_the_turn_past_its_quantum() -> None:
    turns, log = ReceiveTurns(stall=60, quantum=0.01), []

    async def steady(_: int) -> None:
        await anyio.sleep(0.005)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_body, turns, "a", 10, steady, log)
    assert log == ["a"] * 10


@pytest.mark.anyio
async def test_a_cancelled_waiter_or_a_failed_holder_leaves_the_turns_going() -> None:
    turns, log = ReceiveTurns(stall=60, quantum=60), []
    go = anyio.Event()

    async def gated(_: int) -> None:
        await go.wait()

    async def failing(index: int) -> None:
        await anyio.lowlevel.checkpoint()
        if index == 1:
            raise OSError("connection reset")

    with anyio.fail_after(10):
        await _cancel_and_fail(turns, log, go, gated, failing)
    assert "cancelled" not in log
    assert log.count("failing") == 1
    assert log[-2:] == ["after", "after"]


async def _cancel_and_fail(
    turns: ReceiveTurns, log: list[str], go: anyio.Event, gated: Read, failing: Read
) -> None:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_body, turns, "holder", 2, gated, log)
        await anyio.lowlevel.checkpoint()
        with anyio.CancelScope() as waiter:
            waiter.cancel()
            await read_body(turns, "cancelled", 1, ready, log)
        with pytest.raises(OSError):
            go.set()
            await read_body(turns, "failing", 3, failing, log)
        tasks.start_soon(read_body, turns, "after", 2, ready, log)
