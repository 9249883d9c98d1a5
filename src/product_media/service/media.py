"""Use cases on a product's media: the one write path every media change takes, and the
bulk update (PUT .../media) on it."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import ParamSpec, TypeVar

import anyio
from anyio.to_thread import run_sync

from product_media import metrics
from product_media.domain.media import MediaSet
from product_media.domain.media_update import MediaUpdate
from product_media.domain.plan import Fetched, UpdateResults, plan, wanted_sources
from product_media.domain.product_edits import ProductChanges
from product_media.domain.update_report import UpdateReport, update_report
from product_media.service.blob_lifetimes import collect, write_claimed
from product_media.service.errors import ProductNotFound, UpdateInterrupted
from product_media.service.ports import Ingest, Storage
from product_media.storage.ports import ClaimLost

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


async def collect_after(storage: Storage, keys: Collection[str]) -> int:
    """Delete what a commit stopped using; shielded, so a cancelled request still cleans up
    (and what a crash interrupts, the sweep finds)."""
    with anyio.CancelScope(shield=True):
        removed = await run_sync(collect, storage.ledger, storage.blobs, storage.owner, keys)
    return removed


async def _discard(storage: Storage, claim: str, written: set[str]) -> None:
    """Drop what an unfinished update wrote (also what a lost claim no longer names).

    Release and collect run back to back in one worker thread, which goes on even if this
    task is cancelled again (asyncio.run's teardown does): released but not collected, the
    files would have no claim or mark left to tell a periodic sweep about them."""

    def discard() -> None:
        keys = storage.ledger.release(claim)
        collect(storage.ledger, storage.blobs, storage.owner, keys | written)

    with anyio.CancelScope(shield=True):
        await run_sync(discard)


def _measured(
    use_case: Callable[P, Awaitable[UpdateResults]],
) -> Callable[P, Awaitable[UpdateResults]]:
    """Counts a media update, its duration and its items by result."""

    @functools.wraps(use_case)
    async def measured(*args: P.args, **kwargs: P.kwargs) -> UpdateResults:
        with metrics.MEDIA_UPDATE_SECONDS.time():
            results = await use_case(*args, **kwargs)
        metrics.MEDIA_UPDATES.inc()
        for item in ([results.main] if results.main is not None else []) + [*results.gallery]:
            metrics.record_item(item.success, item.error_code)
        return results

    return measured


class GroupedClaims:
    """Claims on stored files for reuse, asked for at about the same time by the sources of
    one update (their conditional requests answer 304 together), go to the catalog in one
    transaction: while one runs, the next ones gather (a group commit), so 20 unchanged
    sources cost two write transactions instead of 20."""

    def __init__(self, storage: Storage, claim: str) -> None:
        self._storage = storage
        self._claim = claim
        self._waiting: list[tuple[Collection[str], asyncio.Future[bool]]] = []
        self._running = False
        self._done = asyncio.Event()

    async def keep(self, keys: Collection[str]) -> bool:
        """Whether `keys` are claimed for reuse (every one still in use, none being deleted)."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, answer))
        while not answer.done():
            if self._running:
                await self._done.wait()
            else:
                await self._run_batch()
        return answer.result()

    async def _run_batch(self) -> None:
        self._running = True
        done, batch, self._waiting = self._done, self._waiting, []
        answered = False
        try:
            answers = await run_sync(
                self._storage.ledger.claim_in_use,
                self._claim,
                self._storage.owner,
                [keys for keys, _ in batch],
            )
            for (_, answer), ok in zip(batch, answers, strict=True):
                answer.set_result(ok)
            answered = True
        except Exception as exc:
            # Each caller, this one too, raises it from its own answer.
            for _, answer in batch:
                answer.set_exception(exc)
            answered = True
        finally:
            if not answered:
                # Cancelled: what the batch claimed is released with the rest of the claim;
                # its sources are fetched anew.
                for _, answer in batch:
                    answer.set_result(False)
            self._running = False
            self._done = asyncio.Event()
            done.set()


async def write_media(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    sources: Collection[tuple[str, str]],
    decide: Callable[[MediaSet, Fetched], tuple[MediaSet, T]],
    *,
    token: str,
    time_limit: float,
    uploads: Mapping[str, bytes] | None = None,
    changes: ProductChanges | None = None,
    job: int | None = None,
    report: Callable[[T], UpdateReport] | None = None,
) -> T:
    """The one write path of every media change: ingest `sources`, then commit
    `decide(current, fetched)`'s media set in one transaction and return its outcome.

    `token` (hashed) is whose share of the ingest capacity the write draws on; sources not
    done within `time_limit` seconds fail; `uploads` are the bytes of sources sent in the
    request (an ("image", name) source whose name is a key). The same transaction applies
    `changes` to the product's fields, drops the async media job `job`, done, and keeps
    `report(outcome)` as the product's last media update (the media page shows it). Cancelled
    before the commit, the write changes nothing and leaves nothing behind; once the commit
    has begun, it completes. Files the commit stops using are deleted after it.
    Raises ProductNotFound (also when the product is deleted mid-way), UpdateInterrupted,
    and whatever `decide` raises (then nothing changes).
    """
    if not await run_sync(storage.catalog.product_exists, store_id, product_id):
        raise ProductNotFound(product_id)
    claim = uuid.uuid4().hex
    written: set[str] = set()

    async def put(contents: Mapping[str, bytes | Path]) -> None:
        written.update(contents)
        await run_sync(
            lambda: write_claimed(storage.ledger, storage.blobs, claim, storage.owner, contents)
        )

    keep = GroupedClaims(storage, claim).keep

    def planned(current: MediaSet) -> tuple[MediaSet, T]:
        return decide(current, fetched)

    try:
        fetched: Fetched = (
            await ingest.run(
                sources,
                put,
                tenant=(store_id, token),
                time_limit=time_limit,
                uploads=uploads,
                keep=keep,
            )
            if sources
            else {}
        )
        # A commit under way cannot be taken back, so cancelling the write (its client gone)
        # waits for the commit: the write then ends as committed, its garbage collected.
        with anyio.CancelScope(shield=True):
            committed = await run_sync(
                functools.partial(
                    storage.catalog.update_media,
                    store_id,
                    product_id,
                    claim,
                    planned,
                    changes=changes,
                    job=job,
                    report=report,
                )
            )
    except ClaimLost as exc:
        await _discard(storage, claim, written)
        raise UpdateInterrupted(str(exc)) from exc
    except BaseException:
        await _discard(storage, claim, written)
        raise
    if committed is None:
        await _discard(storage, claim, written)
        raise ProductNotFound(product_id)
    outcome, garbage = committed
    removed = await collect_after(storage, garbage)
    log.info(
        "media of product %d in store %d written, %d files removed", product_id, store_id, removed
    )
    return outcome


@_measured
async def update_media(
    storage: Storage,
    ingest: Ingest,
    store_id: int,
    product_id: int,
    update: MediaUpdate,
    *,
    token: str,
    time_limit: float,
) -> UpdateResults:
    """PUT .../media: replace the main media and the gallery as DESIGN section 3 says."""
    results = await write_media(
        storage,
        ingest,
        store_id,
        product_id,
        wanted_sources(update),
        lambda current, fetched: plan(current, update, fetched),
        token=token,
        time_limit=time_limit,
        report=lambda outcome: update_report(update, outcome),
    )
    items = [results.main] if results.main is not None else []
    items.extend(results.gallery)
    log.info(
        "media update of product %d in store %d: %d of %d items stored",
        product_id,
        store_id,
        sum(item.success for item in items),
        len(items),
    )
    return results
