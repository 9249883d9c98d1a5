"""The application factory: wires settings, catalog, blob store and ingest into FastAPI."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi

from product_media import __version__
from product_media.api import errors, files, media, products
from product_media.api.limits import BodyLimits
from product_media.api.rate_limit import RateLimiter
from product_media.api.state import AppState
from product_media.ingest.address_policy import AddressPolicy
from product_media.ingest.fetcher import Fetcher, FetchLimits
from product_media.ingest.images import configure_vips
from product_media.ingest.pipeline import IngestLimits, Pipeline
from product_media.settings import Settings
from product_media.storage.blobs import FileBlobStore
from product_media.storage.catalog import Catalog
from product_media.storage.owners import Owners
from product_media.storage.sweep import sweep_orphans

log = logging.getLogger(__name__)


def _pipeline(settings: Settings, fetcher: Fetcher) -> Pipeline:
    workers = settings.process_threads or os.cpu_count() or 1
    limits = IngestLimits(
        image_fetch=FetchLimits(
            max_bytes=settings.image_max_bytes,
            connect_timeout=settings.connect_timeout,
            total_timeout=settings.image_download_timeout,
            max_redirects=settings.max_redirects,
        ),
        max_pixels=settings.image_max_pixels,
        concurrency=settings.fetch_concurrency,
        max_in_flight=settings.max_sources_in_flight,
        decode_memory=settings.decode_memory,
    )
    return Pipeline(fetcher, anyio.CapacityLimiter(workers), limits)


async def _sweep_every(
    interval: float, catalog: Catalog, blobs: FileBlobStore, owners: Owners
) -> None:
    """Clear what other processes' crashes left, while this one keeps running."""
    while True:
        await anyio.sleep(interval)
        try:
            await run_in_threadpool(sweep_orphans, catalog, blobs, owners, always_collect=False)
        except Exception:
            # A failed sweep (a locked database, a full disk) is retried at the next interval.
            log.exception("sweep failed")


def _openapi(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """The schema as this server answers: validation errors are 400, not FastAPI's default
    422, and the gallery holds at most MAX_GALLERY_ITEMS items."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            for path in schema["paths"].values():
                for operation in path.values():
                    responses = operation.get("responses", {})
                    if "HTTPValidationError" in str(responses.get("422")):
                        del responses["422"]
            components = schema["components"]["schemas"]
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            gallery = components["MediaUpdateIn"]["properties"]["galleryMedia"]
            for variant in gallery["anyOf"]:
                if variant.get("type") == "array":
                    variant["maxItems"] = settings.max_gallery_items
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_vips()
        settings.data.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(settings.catalog_url)
        await run_in_threadpool(catalog.migrate)
        owners = Owners(settings.owners_dir)
        owner = owners.register()
        blobs = FileBlobStore(settings.blob_dir, owner=owner.id)
        await run_in_threadpool(sweep_orphans, catalog, blobs, owners)
        fetcher = Fetcher(AddressPolicy(settings.allow_source_networks))
        app.state.product_media = AppState(
            settings=settings,
            catalog=catalog,
            blobs=blobs,
            owner=owner.id,
            fetcher=fetcher,
            rate_limiter=RateLimiter(settings.rate_limit_per_minute),
            pipeline=_pipeline(settings, fetcher),
        )
        try:
            async with anyio.create_task_group() as tasks:
                if settings.sweep_interval > 0:
                    tasks.start_soon(_sweep_every, settings.sweep_interval, catalog, blobs, owners)
                yield
                tasks.cancel_scope.cancel()
        finally:
            await fetcher.aclose()
            catalog.close()
            owner.close()

    app = FastAPI(
        title="product-media",
        version=__version__,
        summary="Product images and videos behind an Ecwid REST API v3 compatible API",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(products.router)
    app.include_router(media.router)
    app.include_router(files.router)
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes)
    app.openapi = _openapi(app, settings)  # type: ignore[method-assign]
    return app
