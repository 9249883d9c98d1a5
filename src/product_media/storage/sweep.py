"""Removes what interrupted updates left behind: dead processes' claims and temp files, and the
blobs nobody uses. Runs at start-up and then every `sweep_interval` seconds."""

from __future__ import annotations

import itertools
import logging

from product_media.storage.blobs import FileBlobStore
from product_media.storage.catalog import Catalog
from product_media.storage.owners import Owners

log = logging.getLogger(__name__)

_BATCH = 500


def sweep_orphans(
    catalog: Catalog, blobs: FileBlobStore, owners: Owners, *, always_collect: bool = True
) -> int:
    """Forget dead owners, then delete every blob no row references; returns how many went.

    Live owners are left alone: their claims keep the blobs of updates still in flight. Every
    process that writes or releases blobs is an owner, so when none has died since the last
    sweep there is nothing to collect, and `always_collect=False` skips listing every blob.
    """
    suspects = catalog.claim_owners() | blobs.partial_write_owners() | owners.known()
    dead = {owner for owner in suspects if not owners.is_alive(owner)}
    if not dead and not always_collect:
        return 0
    catalog.drop_claims_of(dead)
    blobs.clear_partial_writes(dead)
    for owner in dead:
        owners.forget(owner)
    removed = 0
    keys = blobs.keys()
    while batch := list(itertools.islice(keys, _BATCH)):
        removed += catalog.collect_garbage(batch, blobs.delete)
    if removed or dead:
        log.info(
            "sweep: %d unreferenced media files removed, %d stopped processes cleared",
            removed,
            len(dead),
        )
    return removed
