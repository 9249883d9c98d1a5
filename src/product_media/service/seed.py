"""The emulator's seed and reset (DESIGN section 9): a known catalog to start every test run
from, and back to it between tests."""

from __future__ import annotations

import logging

from anyio.to_thread import run_sync

from product_media.domain.seed import Seed
from product_media.service.blob_lifetimes import collect
from product_media.service.media import update_media
from product_media.service.ports import Ingest, Storage
from product_media.storage.ports import SeedCatalog

log = logging.getLogger(__name__)

# Whose share of the ingest capacity the seed's media draw on (in place of a token's hash).
SEED_TENANT = "seed"
# Keys handed to one collection at a time: one statement's list of keys stays short.
_KEYS_PER_BATCH = 500


async def apply_seed(
    catalog: SeedCatalog, storage: Storage, ingest: Ingest, seed: Seed, *, time_limit: float
) -> None:
    """Create what the seed names and the catalog lacks; a product created now gets its media
    as PUT .../media would give them (an item whose source fails is left out and logged).
    Raises SeedConflict, and then nothing changes."""
    created = await run_sync(catalog.add_seed, seed)
    for store_id, product in created:
        if product.media is None:
            continue
        results = await update_media(
            storage,
            ingest,
            store_id,
            product.id,
            product.media,
            token=SEED_TENANT,
            time_limit=time_limit,
        )
        items = [("mainMedia", results.main)] if results.main is not None else []
        items += [(f"galleryMedia[{i}]", item) for i, item in enumerate(results.gallery)]
        for where, item in items:
            if not item.success:
                log.warning(
                    "seed: product %d, %s: %s: %s",
                    product.id,
                    where,
                    item.error_code,
                    item.error_message,
                )
    if created:
        log.info("seed: %d products created", len(created))


def _remove_every_file(storage: Storage, used: frozenset[str]) -> int:
    """Delete every blob nothing uses any more: those the catalog used and any other the
    store holds (a write still under way keeps its claimed ones until it fails)."""
    removed = 0
    keys = sorted(used | set(storage.blobs.keys()))
    for start in range(0, len(keys), _KEYS_PER_BATCH):
        batch = keys[start : start + _KEYS_PER_BATCH]
        removed += collect(storage.ledger, storage.blobs, storage.owner, batch)
    return removed


async def reset(
    catalog: SeedCatalog,
    storage: Storage,
    ingest: Ingest,
    seed: Seed | None,
    *,
    time_limit: float,
) -> None:
    """Empty the catalog, delete every file, and apply `seed` again. Ids handed out afterwards
    go past every one used before."""
    used = await run_sync(catalog.empty)
    removed = await run_sync(_remove_every_file, storage, used)
    log.info("reset: catalog emptied, %d files removed", removed)
    if seed is not None:
        await apply_seed(catalog, storage, ingest, seed, time_limit=time_limit)
