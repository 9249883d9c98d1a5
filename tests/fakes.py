"""In-memory stand-ins for the storage ports, for fast tests of the service layer.

They keep the same promises as the real adapters (one lock stands for a transaction), so a
use case behaves the same on them; the contract tests hold the real adapters to those promises.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import anyio

from product_media.bootstrap import Adapters
from product_media.domain.access import CATALOG_SCOPES, Grant, TokenKind, token_hash
from product_media.domain.media import Image, MediaSet, Video
from product_media.domain.product import Product
from product_media.domain.product_edits import ProductChanges, ProductSearch
from product_media.domain.update_report import UpdateReport
from product_media.ingest.fetcher import (
    HEAD_BYTES,
    Downloaded,
    Fetched,
    FetchError,
    FetchLimits,
    TooLarge,
)
from product_media.ingest.pipeline import IngestLimits, Pipeline
from product_media.storage.byte_ranges import resolve
from product_media.storage.ports import ByteRange, ClaimLost, MediaJob, OpenedBlob, SkuTaken
from product_media.storage.rate_limits import Unlimited

T = TypeVar("T")


class FakeCatalog:
    """Stores, tokens, products and the ledger of blob lifetimes, in dictionaries."""

    def __init__(self, alive: Callable[[str], bool] = lambda owner: True) -> None:
        self._lock = threading.RLock()
        self._alive = alive
        self.stores: dict[int, str] = {}
        self.grants: dict[str, Grant] = {}
        self.products: dict[int, Product] = {}
        self.claims: dict[str, set[tuple[str, str]]] = {}  # claim -> {(owner, key)}
        self.marks: dict[str, str] = {}  # key -> owner
        self.jobs: dict[int, tuple[MediaJob, str | None]] = {}  # id -> (job, holder)
        self.reports: dict[int, UpdateReport] = {}  # product id -> its last media update
        self._next_id = 1
        # Called inside update_media's "transaction", before it reads: for races in tests.
        self.before_update: Callable[[], None] = lambda: None

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- stores, tokens, products

    def create_store(self, name: str) -> int:
        with self._lock:
            store_id = self._new_id()
            self.stores[store_id] = name
            return store_id

    def store_exists(self, store_id: int) -> bool:
        return store_id in self.stores

    def store_name(self, store_id: int) -> str | None:
        return self.stores.get(store_id)

    def add_token(self, store_id: int, hashed: str, kind: TokenKind, scopes: Iterable[str]) -> None:
        self.grants[hashed] = Grant(store_id, kind, frozenset(scopes))

    def find_grant(self, hashed: str) -> tuple[str, Grant] | None:
        grant = self.grants.get(hashed)
        return None if grant is None else (hashed, grant)

    def grant_and_revision(
        self, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None]:
        return self.find_grant(hashed), self.product_revision(store_id, product_id)

    def grant_and_revision_at_once(
        self, hashed: str, store_id: int, product_id: int
    ) -> tuple[tuple[str, Grant] | None, int | None] | None:
        return self.grant_and_revision(hashed, store_id, product_id)

    def create_product(
        self,
        store_id: int,
        name: str,
        sku: str | None,
        price: float,
        changes: ProductChanges | None = None,
    ) -> int:
        with self._lock:
            product = Product(0, store_id, name, sku or None, price)
            product = changes.applied(product) if changes else product
            self._check_sku(product)
            product_id = self._new_id()
            self.products[product_id] = replace(product, id=product_id)
            return product_id

    def _check_sku(self, product: Product) -> None:
        if product.sku is None:
            return
        for other in self.products.values():
            same = (other.store_id, other.sku) == (product.store_id, product.sku)
            if same and other.id != product.id:
                raise SkuTaken(product.sku)

    def product_exists(self, store_id: int, product_id: int) -> bool:
        return self.get_product(store_id, product_id) is not None

    def get_product(self, store_id: int, product_id: int) -> Product | None:
        product = self.products.get(product_id)
        return product if product is not None and product.store_id == store_id else None

    def product_revision(self, store_id: int, product_id: int) -> int | None:
        product = self.get_product(store_id, product_id)
        return None if product is None else product.revision

    def list_products(
        self, store_id: int, search: ProductSearch, *, offset: int, limit: int
    ) -> tuple[int, list[Product]]:
        sku, keyword = search.sku, search.keyword
        found = [
            p
            for _, p in sorted(self.products.items())
            if p.store_id == store_id
            and (sku is None or p.sku == sku)
            and (not keyword or keyword.lower() in f"{p.name}\n{p.sku or ''}".lower())
            and (search.product_ids is None or p.id in search.product_ids)
            and (not search.enabled_only or p.enabled)
        ]
        return len(found), found[offset : offset + limit]

    def update_report(self, store_id: int, product_id: int) -> UpdateReport | None:
        with self._lock:
            if self.get_product(store_id, product_id) is None:
                return None
            return self.reports.get(product_id)

    def delete_product(self, store_id: int, product_id: int) -> frozenset[str] | None:
        with self._lock:
            product = self.get_product(store_id, product_id)
            if product is None:
                return None
            del self.products[product_id]
            self.reports.pop(product_id, None)
            return product.media.blob_keys()

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
        with self._lock:
            self.before_update()
            product = self.get_product(store_id, product_id)
            if product is None:
                return None
            current = product.media
            new, outcome = decide(current)
            held = {key for _, key in self.claims.get(claim, set())}
            if new.blob_keys() - current.blob_keys() - held:
                raise ClaimLost(claim)
            edited = changes.applied(product) if changes is not None else product
            self._check_sku(edited)
            released = frozenset(held)
            self.claims.pop(claim, None)
            self.products[product_id] = replace(
                edited, media=self._with_ids(new), revision=product.revision + 1
            )
            if job is not None:
                self.jobs.pop(job, None)
            if report is not None:
                self.reports[product_id] = report(outcome)
            return outcome, (current.blob_keys() | released) - new.blob_keys()

    def reserve_media_id(self) -> int:
        with self._lock:
            return self._new_id()

    # -- async image jobs

    def add_media_job(
        self, store_id: int, product_id: int, target: str, url: str, details: Mapping[str, Any]
    ) -> int | None:
        with self._lock:
            if self.get_product(store_id, product_id) is None:
                return None
            job_id = self._new_id()
            job = MediaJob(job_id, store_id, product_id, target, url, dict(details), 0)
            self.jobs[job_id] = (job, None)
            return job_id

    def media_job_owners(self) -> set[str]:
        with self._lock:
            return {holder for _, holder in self.jobs.values() if holder is not None}

    def claim_media_job(self, owner: str, dead: Collection[str]) -> MediaJob | None:
        with self._lock:
            for job_id in sorted(self.jobs):
                job, holder = self.jobs[job_id]
                first = min(i for i, (j, _) in self.jobs.items() if j.product_id == job.product_id)
                if first == job_id and (holder is None or holder in dead):
                    claimed = replace(job, attempts=job.attempts + 1)
                    self.jobs[job_id] = (claimed, owner)
                    return claimed
            return None

    def release_media_job(self, job_id: int, owner: str) -> None:
        with self._lock:
            if job_id in self.jobs and self.jobs[job_id][1] == owner:
                self.jobs[job_id] = (self.jobs[job_id][0], None)

    def drop_media_job(self, job_id: int) -> None:
        with self._lock:
            self.jobs.pop(job_id, None)

    def _with_ids(self, media: MediaSet) -> MediaSet:
        def stored(item: Image | Video) -> Image | Video:
            if item.id is not None:
                return item
            if isinstance(item, Image):
                return replace(item, id=self._new_id())
            cover_id = self._new_id() if item.source.cover is not None else None
            return replace(item, id=self._new_id(), cover_id=cover_id)

        main_image = stored(media.main_image) if media.main_image else None
        main_video = stored(media.main_video) if media.main_video else None
        assert main_image is None or isinstance(main_image, Image)
        assert main_video is None or isinstance(main_video, Video)
        return MediaSet(main_image, main_video, tuple(stored(i) for i in media.gallery))

    # -- the ledger

    def _referenced(self) -> set[str]:
        return {key for p in self.products.values() for key in p.media.blob_keys()}

    def _claimed(self) -> set[str]:
        return {key for held in self.claims.values() for _, key in held}

    def claim(self, claim: str, owner: str, keys: Collection[str]) -> frozenset[str]:
        with self._lock:
            self.claims.setdefault(claim, set()).update((owner, key) for key in keys)
            return self.being_deleted(keys)

    def being_deleted(self, keys: Collection[str]) -> frozenset[str]:
        with self._lock:
            return frozenset(k for k in keys if k in self.marks and self._alive(self.marks[k]))

    def release(self, claim: str) -> frozenset[str]:
        with self._lock:
            return frozenset(key for _, key in self.claims.pop(claim, set()))

    def mark_garbage(self, keys: Collection[str], owner: str) -> frozenset[str]:
        with self._lock:
            used = self._referenced() | self._claimed() | self.being_deleted(keys)
            garbage = frozenset(set(keys) - used)
            for key in garbage:
                self.marks[key] = owner
            return garbage

    def unmark(self, keys: Collection[str], owner: str) -> None:
        with self._lock:
            for key in keys:
                if self.marks.get(key) == owner:
                    del self.marks[key]

    def state_owners(self) -> set[str]:
        with self._lock:
            owners = {owner for held in self.claims.values() for owner, _ in held}
            return owners | set(self.marks.values())

    def drop_owner_state(self, dead: Collection[str]) -> None:
        with self._lock:
            for claim, held in list(self.claims.items()):
                held -= {(o, k) for o, k in held if o in dead}
                if not held:
                    del self.claims[claim]
            for key, owner in list(self.marks.items()):
                if owner in dead:
                    del self.marks[key]

    def migrate(self) -> None:
        pass

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class FakeBlobStore:
    """Blobs in a dictionary. `fail_put` makes puts of matching keys raise."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    fail_put: Callable[[str], bool] = lambda key: False
    puts: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    partial: dict[str, set[str]] = field(default_factory=dict)  # owner -> temp names

    def put(self, key: str, content: bytes) -> None:
        if self.fail_put(key):
            raise OSError(f"cannot write {key}")
        self.puts.append(key)
        self.blobs.setdefault(key, content)

    def put_file(self, key: str, path: Path) -> None:
        self.put(key, path.read_bytes())

    def open(self, key: str, byte_range: ByteRange | None = None) -> OpenedBlob | None:
        content = self.blobs.get(key)
        if content is None:
            return None
        size = len(content)
        start, end = (0, size - 1) if byte_range is None else resolve(byte_range, size)
        return OpenedBlob(size, start, end, iter([content[start : end + 1]]), lambda: None)

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def delete(self, key: str) -> None:
        self.deletes.append(key)
        self.blobs.pop(key, None)

    def keys(self) -> Iterator[str]:
        return iter(sorted(self.blobs))

    def partial_write_owners(self) -> set[str]:
        return {owner for owner, names in self.partial.items() if names}

    def clear_partial_writes(self, owners: Iterable[str]) -> None:
        for owner in owners:
            self.partial.pop(owner, None)

    def ping(self) -> None:
        pass


@dataclass
class FakeLeases:
    alive: set[str] = field(default_factory=set)
    rows: set[str] = field(default_factory=set)

    def register(self, owner: str) -> None:
        self.alive.add(owner)
        self.rows.add(owner)

    def renew(self, owner: str) -> bool:
        return owner in self.rows

    def end(self, owner: str) -> None:
        self.alive.discard(owner)
        self.rows.discard(owner)

    def known(self) -> set[str]:
        return set(self.rows)

    def dead(self, candidates: Collection[str]) -> set[str]:
        return {owner for owner in candidates if owner not in self.alive}

    def forget(self, dead: Collection[str]) -> None:
        self.rows -= set(dead)

    def is_alive(self, owner: str) -> bool:
        return owner in self.alive


@dataclass
class FakeFetcher:
    """Serves bytes by URL; `hooks` run (and may block) before a URL's answer."""

    files: dict[str, bytes] = field(default_factory=dict)
    hooks: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    async def fetch(self, url: str, limits: FetchLimits) -> Fetched:
        self.fetched.append(url)
        if url in self.hooks:
            await self.hooks[url]()
        if url not in self.files:
            raise FetchError("HTTP 404 from source")
        return Fetched(url, self.files[url])

    async def download(
        self,
        url: str,
        limits: FetchLimits,
        target: Path,
        *,
        check_head: Callable[[bytes], None] | None = None,
    ) -> Downloaded:
        content = (await self.fetch(url, limits)).content
        if check_head is not None:
            check_head(content[:HEAD_BYTES])
        if len(content) > limits.max_bytes:
            raise TooLarge(f"larger than {limits.max_bytes} bytes")
        await anyio.Path(target).write_bytes(content)
        return Downloaded(url, len(content), hashlib.sha256(content).hexdigest(), content[:64])

    async def aclose(self) -> None:
        pass


def fake_pipeline(
    fetcher: FakeFetcher, *, concurrency: int = 4, in_flight: int = 8, per_store: int | None = None
) -> Pipeline:
    """The real pipeline (libvips, fair shares, deadlines) on a fake fetcher."""
    limits = IngestLimits(
        image_fetch=FetchLimits(max_bytes=10**7, connect_timeout=1, total_timeout=600),
        max_pixels=10**7,
        concurrency=concurrency,
        max_in_flight=in_flight,
        decode_memory=2**28,
        max_per_store=per_store or in_flight,
    )
    return Pipeline(fetcher, anyio.CapacityLimiter(2), limits)  # type: ignore[arg-type]


@dataclass
class FakeDeployment:
    """Adapters on fakes, with one store and a secret token of every catalog scope."""

    token: str = "secret_fake"
    catalog: FakeCatalog = field(default_factory=FakeCatalog)
    blobs: FakeBlobStore = field(default_factory=FakeBlobStore)
    fetcher: FakeFetcher = field(default_factory=FakeFetcher)
    leases: FakeLeases = field(default_factory=FakeLeases)

    def __post_init__(self) -> None:
        self.store = self.catalog.create_store("Fake")
        self.catalog.add_token(self.store, token_hash(self.token), "secret", CATALOG_SCOPES)
        self.adapters = Adapters(
            catalog=self.catalog,
            blobs=self.blobs,
            leases=self.leases,
            ingest=fake_pipeline(self.fetcher),
            rate_limiter=Unlimited(),
            owner="f" * 32,
        )
