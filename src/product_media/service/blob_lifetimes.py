"""How a blob is written and deleted when any number of processes share one catalog and one
blob store, without a blob store call inside a catalog transaction.

- Writing: claim the keys in the catalog, wait while any of them is being deleted, then put.
- Deleting: mark in the catalog the keys nothing references, claims or is already deleting,
  delete those, then unmark them.

The catalog serialises a claim and a mark of the same key, so one of them comes first. If the
claim does, the key is never marked while the claim lasts. If the mark does, the claimant waits
until the delete is done and the mark gone; only then does it put, so its put writes the file
anew instead of skipping a file that is about to vanish (a put skips a key that exists). A
claim ends in the commit that turns it into references, so no file anything needs is deleted.
A mark of a dead process, or one older than a lease, is taken as a delete that never finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from product_media.storage.ports import BlobLedger, BlobStore

log = logging.getLogger(__name__)

# How often a writer looks again at keys being deleted; deletes take milliseconds.
POLL_SECONDS = 0.02


def write_claimed(
    ledger: BlobLedger,
    blobs: BlobStore,
    claim: str,
    owner: str,
    contents: Mapping[str, bytes | Path],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Claim `contents` for `claim` and write them; they live at least until the claim ends.
    A content given as a path is streamed from that file (a video: never whole in memory)."""
    waiting = ledger.claim(claim, owner, list(contents))
    while waiting:
        sleep(POLL_SECONDS)
        waiting = ledger.being_deleted(waiting)
    for key, content in contents.items():
        if isinstance(content, Path):
            blobs.put_file(key, content)
        else:
            blobs.put(key, content)


def collect(ledger: BlobLedger, blobs: BlobStore, owner: str, keys: Collection[str]) -> int:
    """Delete those of `keys` that nothing uses; returns how many went."""
    marked = ledger.mark_garbage(keys, owner)
    try:
        for key in sorted(marked):
            blobs.delete(key)
    finally:
        ledger.unmark(marked, owner)
    return len(marked)
