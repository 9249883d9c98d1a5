"""What the use cases are handed: the storage ports of one deployment, and ingest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from product_media.domain.plan import Outcome
from product_media.storage.ports import BlobLedger, BlobStore, Catalog

# Writes a set of new blobs so that nothing collects them before the commit: {key: bytes}, or
# {key: path} for a file too large to hold in memory (a video), copied from that path.
PutBlobs = Callable[[Mapping[str, bytes | Path]], Awaitable[None]]
# Keeps blobs that stored media use alive until the same commit, instead of writing them;
# False (nothing kept) when one of them is no longer in use.
KeepBlobs = Callable[[Collection[str]], Awaitable[bool]]


class Ingest(Protocol):
    """Fetches and processes sources; every source gets an outcome, none raises.

    `tenant` (store id, hashed token) is whom the work is for: capacity is shared fairly
    between tenants. A source not done within `time_limit` seconds fails. An image whose url
    is a key of `uploads` is those bytes (a file sent in the request), not fetched. With
    `keep`, a source may come out as files the tenant's store has already, kept by `keep`."""

    async def run(
        self,
        sources: Iterable[tuple[str, str]],
        put: PutBlobs,
        *,
        tenant: tuple[int, str],
        time_limit: float,
        uploads: Mapping[str, bytes] | None = None,
        keep: KeepBlobs | None = None,
    ) -> dict[tuple[str, str], Outcome]: ...


@dataclass(frozen=True)
class Storage:
    """The catalog, its ledger of blob lifetimes and the blob store, as this process (`owner`,
    whose lease keeps its claims and marks) uses them."""

    catalog: Catalog
    ledger: BlobLedger
    blobs: BlobStore
    owner: str
