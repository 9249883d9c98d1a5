"""Removes what interrupted updates left behind: stale claims and the blobs nobody uses."""

from __future__ import annotations

import itertools
import logging

from product_media.storage.blobs import FileBlobStore
from product_media.storage.catalog import Catalog

log = logging.getLogger(__name__)

# No media update runs this long, so a claim this old belongs to a request that died.
STALE_AFTER_SECONDS = 3600
_BATCH = 500


def sweep_orphans(
    catalog: Catalog, blobs: FileBlobStore, stale_after: float = STALE_AFTER_SECONDS
) -> int:
    """Drop stale claims and delete every blob no row references; returns how many went."""
    catalog.drop_claims_older_than(stale_after)
    blobs.clear_partial_writes(stale_after)
    removed = 0
    keys = blobs.keys()
    while batch := list(itertools.islice(keys, _BATCH)):
        removed += catalog.collect_garbage(batch, blobs.delete)
    if removed:
        log.info("removed %d unreferenced media files", removed)
    return removed
