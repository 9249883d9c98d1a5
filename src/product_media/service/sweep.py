"""Clears what interrupted work left behind, in the catalog and the blob store: the claims,
marks and temporary objects of processes that are gone, then the blobs nothing uses. Any
process's sweep may clear any other's leftovers; live processes' work is never touched."""

from __future__ import annotations

import itertools
import logging
from typing import Protocol

from product_media.service.blob_lifetimes import collect
from product_media.storage.ports import BlobLedger, BlobStore, Leases, PartialWrites, Sweepable

log = logging.getLogger(__name__)

_BATCH = 500


class SweepLedger(BlobLedger, Sweepable, Protocol):
    pass


def sweep(
    ledger: SweepLedger,
    blobs: BlobStore,
    leases: Leases,
    owner: str,
    *,
    always_collect: bool = True,
    scratch: PartialWrites | None = None,
) -> int:
    """Forget dead processes, then delete every blob nothing uses; returns how many went.
    `scratch` holds files that ingest streams to disk, named after their processes.

    Every process that writes or deletes blobs holds a lease, so when none has died since the
    last sweep there is nothing new to collect, and `always_collect=False` skips listing
    every blob.
    """
    partial: list[PartialWrites] = [blobs] if scratch is None else [blobs, scratch]
    suspects = ledger.state_owners() | leases.known()
    for writes in partial:
        suspects |= writes.partial_write_owners()
    suspects.discard(owner)
    dead = leases.dead(suspects)
    if not dead and not always_collect:
        return 0
    ledger.drop_owner_state(dead)
    for writes in partial:
        writes.clear_partial_writes(dead)
    leases.forget(dead)
    removed = 0
    keys = blobs.keys()
    while batch := list(itertools.islice(keys, _BATCH)):
        removed += collect(ledger, blobs, owner, batch)
    if removed or dead:
        log.info(
            "sweep: %d unreferenced media files removed, %d stopped processes cleared",
            removed,
            len(dead),
        )
    return removed
