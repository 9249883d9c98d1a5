"""The storage ports: what the service layer needs from a blob store and from the catalog.

Adapters: `folder_blobs.FolderBlobStore` and `s3_blobs.S3BlobStore` for blobs;
`catalog.SqlCatalog` (SQLite or PostgreSQL) for the rest. Tests hand in fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from product_media.domain.access import Grant
from product_media.domain.media import MediaSet
from product_media.domain.product import Product
from product_media.domain.product_edits import ProductChanges, ProductSearch
from product_media.domain.seed import Seed, SeedProduct
from product_media.domain.update_report import UpdateReport

T = TypeVar("T")


class ClaimLost(Exception):
    """An update's claim was dropped before its commit (its process was taken for dead), so
    the files it wrote may be gone: the commit is refused and nothing changes."""


class SkuTaken(Exception):
    """Another product of the store has that SKU; nothing was written."""


class BlobStoreUnavailable(Exception):
    """The blob store cannot be reached or refuses to work (readiness fails)."""


@dataclass(frozen=True)
class ByteRange:
    """An HTTP byte range as asked for: `start-end`, `start-` or (start None) the last `end`
    bytes. Inclusive, as in RFC 9110."""

    start: int | None
    end: int | None


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"range not satisfiable for a blob of {size} bytes")
        self.size = size


@dataclass
class OpenedBlob:
    """A blob opened for reading: what was opened stays readable to the end, even if the key is
    deleted meanwhile. `start` and `end` (inclusive) are the bytes `chunks` yields."""

    size: int
    start: int
    end: int
    chunks: Iterator[bytes]
    close: Callable[[], None]

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class PartialWrites(Protocol):
    """Temporary files or objects named after the process writing them."""

    def partial_write_owners(self) -> set[str]:
        """Owners of temporary objects still lying around."""
        ...

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        """Remove the temporary objects of `owners`, whose writes a crash interrupted."""
        ...


class BlobStore(Protocol):
    """Content-addressed blobs: a key is the SHA-256 of the bytes plus an extension, so a key
    names exactly one content and `put` of an existing key may skip the write."""

    def put(self, key: str, content: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None:
        """`put` of the bytes of the file at `path`, streamed (never whole in memory); the file
        is left as it was."""
        ...

    def open(self, key: str, byte_range: ByteRange | None = None) -> OpenedBlob | None:
        """The blob (or the asked range of it), or None when there is no such key; raises
        RangeNotSatisfiable."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error."""
        ...

    def keys(self) -> Iterator[str]:
        """Every stored key (temporary objects excluded)."""
        ...

    def partial_write_owners(self) -> set[str]:
        """Owners of temporary objects still lying around."""
        ...

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        """Remove the temporary objects of `owners`, whose writes a crash interrupted."""
        ...

    def ping(self) -> None:
        """Raises BlobStoreUnavailable when the store cannot be used."""
        ...


class MediaCatalog(Protocol):
    """What the media use cases need from the catalog."""

    def product_exists(self, store_id: int, product_id: int) -> bool: ...

    def update_media(
        self,
        store_id: int,
        product_id: int,
        claim: str,
        decide: Callable[[MediaSet], tuple[MediaSet, T]],
        *,
        changes: ProductChanges | None = None,
        job: int | None = None,
        report: Callable[[T], UpdateReport] | None = None,
    ) -> tuple[T, frozenset[str]] | None:
        """Replace a product's media with `decide(current)` in one transaction, dropping the
        claim; returns decide's outcome and the keys that may have become garbage, or None when
        the product does not exist (the claim is then kept). In the same transaction, apply
        `changes` to the product's fields (SkuTaken), drop the media job `job` (done) and keep
        `report(outcome)` as the product's last media update."""
        ...

    def reserve_media_id(self) -> int:
        """An image or video id that nothing has or will be given: for an image whose id is
        answered before it is stored."""
        ...

    def delete_product(self, store_id: int, product_id: int) -> frozenset[str] | None:
        """Delete a product; the keys it used, or None when there was no such product."""
        ...


class ProductCatalog(Protocol):
    """Products as the product use cases read and make them."""

    def create_product(
        self,
        store_id: int,
        name: str,
        sku: str | None,
        price: float,
        changes: ProductChanges | None = None,
    ) -> int:
        """A new product: enabled, unlimited stock, no description, then `changes` applied.
        Raises SkuTaken."""
        ...

    def get_product(self, store_id: int, product_id: int) -> Product | None:
        """The product with its media set, read in one snapshot: exactly its `revision`."""
        ...

    def product_revision(self, store_id: int, product_id: int) -> int | None:
        """The product's revision, which every write to it or its media bumps; None when the
        store has no such product."""
        ...

    def list_products(
        self, store_id: int, search: ProductSearch, *, offset: int, limit: int
    ) -> tuple[int, list[Product]]:
        """The total that match and one page of them, in the search's order (else id order)."""
        ...

    def update_report(self, store_id: int, product_id: int) -> UpdateReport | None:
        """The product's last media update, or None when it has had none."""
        ...


@dataclass(frozen=True)
class MediaJob:
    """An accepted async image upload: `id` is the id its image gets; `target` "main" or
    "gallery"; `details` what else the request gave (width, height, alt, externalId)."""

    id: int
    store_id: int
    product_id: int
    target: str
    url: str
    details: Mapping[str, Any]
    attempts: int


class JobCatalog(Protocol):
    """Async image jobs: recorded before their answer, taken by one server at a time."""

    def add_media_job(
        self, store_id: int, product_id: int, target: str, url: str, details: Mapping[str, Any]
    ) -> int | None:
        """Record a job under a new image id (returned); None when there is no such product."""
        ...

    def media_job_owners(self) -> set[str]:
        """The servers holding jobs."""
        ...

    def claim_media_job(self, owner: str, dead: Collection[str]) -> MediaJob | None:
        """Give `owner` the oldest job that nobody holds, or that a `dead` server held, and
        that no older job of its product precedes (a product's jobs run in the order they
        were accepted); None when there is none."""
        ...

    def release_media_job(self, job_id: int, owner: str) -> None:
        """Give a job back unfinished, for any server to take."""
        ...

    def drop_media_job(self, job_id: int) -> None: ...


class Catalog(MediaCatalog, ProductCatalog, JobCatalog, Protocol):
    """The whole catalog a use case may touch."""


class BlobLedger(Protocol):
    """The catalog's record of blob lifetimes: claims keep fresh blobs alive until the commit
    that references them; marks say a blob is being deleted (see service.blob_lifetimes)."""

    def claim(self, claim: str, owner: str, keys: Collection[str]) -> frozenset[str]:
        """Record `owner`'s claim on `keys`; returns those of them being deleted right now."""
        ...

    def being_deleted(self, keys: Collection[str]) -> frozenset[str]:
        """Those of `keys` that a live owner is deleting right now."""
        ...

    def release(self, claim: str) -> frozenset[str]:
        """Drop a claim; returns the keys it held (candidates for collection)."""
        ...

    def mark_garbage(self, keys: Collection[str], owner: str) -> frozenset[str]:
        """Mark for deletion by `owner` every key in `keys` that no row references, no claim
        holds and nobody else is deleting; returns the marked keys."""
        ...

    def unmark(self, keys: Collection[str], owner: str) -> None: ...

    def claim_in_use(self, claim: str, owner: str, groups: Sequence[Collection[str]]) -> list[bool]:
        """For each group of keys, in one transaction: claim its keys for `claim` only if every
        one of them is referenced by a stored image or video right now (so its blob exists)
        and none is being deleted; False (nothing of the group claimed) otherwise. What
        reuses stored files takes this instead of writing them."""
        ...


class AccessCatalog(Protocol):
    """Tokens and stores, as the HTTP edge checks them."""

    def find_grant(self, hashed: str) -> tuple[str, Grant] | None:
        """The stored hash and the grant of a token, looked up by its hash."""
        ...

    def grant_and_revision(
        self, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None]:
        """find_grant and the product's revision (see ProductCatalog) at once: what every GET
        of a product looks up. The revision may be None when the token is unknown."""
        ...

    def grant_and_revision_at_once(
        self, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None] | None:
        """grant_and_revision, or None where it would wait for anything (I/O beyond a local
        file, a lock): the event loop may call it."""
        ...

    def store_exists(self, store_id: int) -> bool: ...

    def store_name(self, store_id: int) -> str | None:
        """The store's name, or None when there is no such store."""
        ...


class Leases(Protocol):
    """Which server processes are alive: each renews a lease while it runs."""

    def register(self, owner: str) -> None: ...

    def renew(self, owner: str) -> bool:
        """Extend the lease; False when it had run out and been dropped already."""
        ...

    def end(self, owner: str) -> None: ...

    def known(self) -> set[str]:
        """Every owner with a lease (or, on this host, a lock file), alive or not."""
        ...

    def dead(self, candidates: Collection[str]) -> set[str]:
        """Those of `candidates` that are gone (a lease run out, or none at all)."""
        ...

    def forget(self, dead: Collection[str]) -> None:
        """Drop what is left of the leases of owners found dead."""
        ...


class Sweepable(Protocol):
    """What the sweep needs beside the ledger: whose state is lying around, and dropping it."""

    def state_owners(self) -> set[str]:
        """Owners that hold claims or marks."""
        ...

    def drop_owner_state(self, dead: Collection[str]) -> None:
        """Drop the claims and marks of owners that are gone."""
        ...


class SeedCatalog(Protocol):
    """What the emulator's seed and reset need of the catalog."""

    def add_seed(self, seed: Seed) -> list[tuple[int, SeedProduct]]:
        """Create what `seed` names and the catalog lacks, in one transaction; the products
        created, with their store ids. Raises SeedConflict, and then nothing changes."""
        ...

    def empty(self) -> frozenset[str]:
        """Delete every store and all it holds (ids still only grow); the blob keys it used."""
        ...


class ServiceCatalog(Catalog, BlobLedger, Sweepable, AccessCatalog, SeedCatalog, Protocol):
    """Everything a running server asks of its catalog."""

    def migrate(self) -> None: ...

    def ping(self) -> None:
        """Raises when the database does not answer."""
        ...

    def close(self) -> None: ...
