"""Builds the adapters that settings name (catalog, blob store, leases, rate limiter, fetcher,
ingest) and hands them to the app and the command line; tests build their own or fakes.

The command line mostly needs the catalog alone, so the adapters that pull in libvips, boto3,
httpx or redis are imported where they are built: that spares each command a second."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from product_media.service.faults import Faults
from product_media.service.ports import Ingest, Storage
from product_media.settings import Settings
from product_media.storage.catalog import SqlCatalog
from product_media.storage.folder_blobs import FolderBlobStore
from product_media.storage.leases import DatabaseLeases
from product_media.storage.ports import BlobStore, BlobStoreUnavailable, Leases, ServiceCatalog

if TYPE_CHECKING:
    from product_media.ingest.fetcher import Fetcher
    from product_media.ingest.pipeline import Pipeline, SourceMemory
    from product_media.ingest.scratch import Scratch
    from product_media.storage.rate_limits import RateLimiter
    from product_media.storage.s3_blobs import S3BlobStore

log = logging.getLogger(__name__)


def _nothing() -> None:
    pass


@dataclass
class Adapters:
    """One server process's adapters. `owner` is this process's id in leases, claims, marks
    and temporary objects."""

    catalog: ServiceCatalog
    blobs: BlobStore
    leases: Leases
    ingest: Ingest
    rate_limiter: RateLimiter
    owner: str
    # Called once at start, in a worker thread: e.g. create the bucket.
    prepare: Callable[[], None] = _nothing
    fetcher: Fetcher | None = None
    # Where ingest streams video downloads; the sweep clears what dead processes left there.
    scratch: Scratch | None = None
    # The emulator's injected faults; `fetcher` consults them.
    faults: Faults = field(default_factory=Faults)

    @property
    def storage(self) -> Storage:
        return Storage(self.catalog, self.catalog, self.blobs, self.owner)

    async def aclose(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.aclose()
        await self.rate_limiter.aclose()
        self.catalog.close()


def new_owner_id() -> str:
    return uuid.uuid4().hex


def build_catalog(settings: Settings) -> SqlCatalog:
    if settings.database_url is None:
        settings.data.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(settings.catalog_url, owner_lease=settings.owner_lease)


def build_blobs(settings: Settings, owner: str) -> BlobStore:
    if settings.blob_url:
        from product_media.storage.s3_blobs import S3BlobStore

        return S3BlobStore(settings.blob_url, endpoint_url=settings.s3_endpoint_url, owner=owner)
    return FolderBlobStore(settings.blob_dir, owner=owner)


def build_pipeline(
    settings: Settings,
    fetcher: Fetcher,
    scratch: Scratch | None = None,
    memory: SourceMemory | None = None,
) -> Pipeline:
    import anyio

    from product_media.ingest.fetcher import FetchLimits
    from product_media.ingest.pipeline import IngestLimits, Pipeline
    from product_media.ingest.video_files import VideoLimits
    from product_media.ingest.video_sources import VideoSourceLimits

    # One more worker than cores: between a source's inspection and its decode a worker
    # waits on the event loop, and the spare keeps every core busy meanwhile.
    workers = settings.process_threads or (os.cpu_count() or 1) + 1
    image_fetch = FetchLimits(
        max_bytes=settings.image_max_bytes,
        connect_timeout=settings.connect_timeout,
        total_timeout=settings.image_download_timeout,
        max_redirects=settings.max_redirects,
    )
    video = VideoSourceLimits(
        download=FetchLimits(
            max_bytes=settings.video_max_bytes,
            connect_timeout=settings.connect_timeout,
            total_timeout=settings.video_download_timeout,
            max_redirects=settings.max_redirects,
        ),
        files=VideoLimits(max_seconds=settings.video_max_seconds, max_side=settings.video_max_side),
        thumbnail=image_fetch,
        oembed_endpoints={
            "YouTube": settings.youtube_oembed_url,
            "Vimeo": settings.vimeo_oembed_url,
        },
    )
    limits = IngestLimits(
        image_fetch=image_fetch,
        max_pixels=settings.image_max_pixels,
        concurrency=settings.fetch_concurrency,
        max_in_flight=settings.max_sources_in_flight,
        decode_memory=settings.decode_memory,
        max_per_store=settings.max_sources_per_store,
        video=video,
    )
    return Pipeline(fetcher, anyio.CapacityLimiter(workers), limits, scratch, memory)


def _ensure_bucket(blobs: S3BlobStore) -> None:
    try:
        if blobs.ensure_bucket():
            log.info("created bucket %s", blobs.bucket)
    except BlobStoreUnavailable as exc:
        # Not a failed start: /readyz says "blobs" until the bucket can be used.
        log.warning("%s", exc)


def build(settings: Settings) -> Adapters:
    """The adapters for a server process, as settings name them."""
    from product_media.ingest.address_policy import AddressPolicy
    from product_media.ingest.fetcher import Fetcher
    from product_media.ingest.scratch import Scratch
    from product_media.storage.rate_limits import build_rate_limiter
    from product_media.storage.s3_blobs import S3BlobStore

    owner = new_owner_id()
    catalog = build_catalog(settings)
    blobs = build_blobs(settings, owner)
    faults = Faults()
    fetcher = Fetcher(AddressPolicy(settings.allow_source_networks), faults=faults)
    scratch = Scratch(settings.scratch_dir, owner)
    rate_limiter = build_rate_limiter(
        settings.rate_limit_per_minute, settings.redis_url, catalog.engine
    )
    prepare = partial(_ensure_bucket, blobs) if isinstance(blobs, S3BlobStore) else _nothing
    return Adapters(
        catalog=catalog,
        blobs=blobs,
        leases=DatabaseLeases(catalog.engine, settings.owner_lease, settings.lock_dir),
        ingest=build_pipeline(settings, fetcher, scratch, catalog),
        rate_limiter=rate_limiter,
        owner=owner,
        prepare=prepare,
        fetcher=fetcher,
        scratch=scratch,
        faults=faults,
    )
