"""Use cases on a product's media: replace it from URLs (PUT .../media)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import ParamSpec

import anyio
from anyio.to_thread import run_sync

from product_media import metrics
from product_media.domain.media import MediaSet
from product_media.domain.media_update import MediaUpdate
from product_media.domain.plan import UpdateResults, plan, wanted_sources
from product_media.service.blob_lifetimes import collect, write_claimed
from product_media.service.errors import ProductNotFound, UpdateInterrupted
from product_media.service.ports import Ingest, Storage
from product_media.storage.ports import ClaimLost

log = logging.getLogger(__name__)

P = ParamSpec("P")


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
    """Ingest the update's sources, then commit the planned media set in one transaction.

    `token` (hashed) is whose share of the ingest capacity the update draws on; sources not
    done within `time_limit` seconds fail. Cancelled before the commit, the update changes
    nothing and leaves nothing behind; once the commit has begun, it completes.
    Raises ProductNotFound (also when the product is deleted mid-way) and UpdateInterrupted.
    """
    if not await run_sync(storage.catalog.product_exists, store_id, product_id):
        raise ProductNotFound(product_id)
    claim = uuid.uuid4().hex
    written: set[str] = set()

    async def put(contents: dict[str, bytes]) -> None:
        written.update(contents)
        await run_sync(
            lambda: write_claimed(storage.ledger, storage.blobs, claim, storage.owner, contents)
        )

    def decide(current: MediaSet) -> tuple[MediaSet, UpdateResults]:
        return plan(current, update, fetched)

    try:
        fetched = await ingest.run(
            wanted_sources(update), put, tenant=(store_id, token), time_limit=time_limit
        )
        # A commit under way cannot be taken back, so cancelling the update (its client gone)
        # waits for the commit: the update then ends as committed, its garbage collected.
        with anyio.CancelScope(shield=True):
            committed = await run_sync(
                storage.catalog.update_media, store_id, product_id, claim, decide
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
    results, garbage = committed
    removed = await collect_after(storage, garbage)
    items = [results.main] if results.main is not None else []
    items.extend(results.gallery)
    log.info(
        "media update of product %d in store %d: %d of %d items stored, %d files removed",
        product_id,
        store_id,
        sum(item.success for item in items),
        len(items),
        removed,
    )
    return results
