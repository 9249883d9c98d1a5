"""Claims for reuse asked for together go to the catalog together (GroupedClaims), each
answered for its own keys; a failure reaches every caller of its batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Sequence
from typing import Any, cast

import pytest

from product_media.service.media import GroupedClaims
from product_media.service.ports import Storage


class _Ledger:
    """Claims the keys it holds; a call waits until `release` is set, so others can gather."""

    def __init__(self, live: set[str], fail: bool = False) -> None:
        self.live = live
        self.fail = fail
        self.calls: list[list[list[str]]] = []
        self.release = threading.Event()

    def claim_in_use(self, claim: str, owner: str, groups: Sequence[Collection[str]]) -> list[bool]:
        self.calls.append([sorted(group) for group in groups])
        self.release.wait(5)
        if self.fail:
            raise RuntimeError("the catalog is gone")
        return [set(group) <= self.live for group in groups]


class _Storage:
    def __init__(self, ledger: _Ledger) -> None:
        self.ledger = ledger
        self.owner = "me"


def _claims(ledger: _Ledger) -> GroupedClaims:
    return GroupedClaims(cast(Storage, _Storage(ledger)), "claim")


async def _ask(claims: GroupedClaims, ledger: _Ledger, groups: list[list[str]]) -> list[Any]:
    tasks = [asyncio.create_task(claims.keep(group)) for group in groups]
    await asyncio.sleep(0.05)  # every caller is waiting: the first in the catalog, the rest
    ledger.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_claims_asked_together_take_two_transactions_and_answer_each_group() -> None:
    ledger = _Ledger({"a", "b", "c"})
    groups = [["a"], ["b", "x"], ["c"], ["a", "b"], ["y"]]
    answers = asyncio.run(_ask(_claims(ledger), ledger, groups))
    assert answers == [True, False, True, True, False]
    assert ledger.calls == [[["a"]], [["b", "x"], ["c"], ["a", "b"], ["y"]]]


def test_a_failure_reaches_every_caller_of_its_batch() -> None:
    ledger = _Ledger({"a"}, fail=True)
    answers = asyncio.run(_ask(_claims(ledger), ledger, [["a"], ["a"], ["a"]]))
    assert all(isinstance(answer, RuntimeError) for answer in answers)


def test_a_cancelled_caller_leaves_the_others_answered() -> None:
    ledger = _Ledger({"a", "b"})
    claims = _claims(ledger)

    async def run() -> list[Any]:
        first = asyncio.create_task(claims.keep(["a"]))
        await asyncio.sleep(0.05)
        others = [asyncio.create_task(claims.keep([key])) for key in ("a", "b", "z")]
        await asyncio.sleep(0.01)
        first.cancel()
        ledger.release.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await asyncio.gather(*others)

    assert asyncio.run(run()) == [True, True, False]
