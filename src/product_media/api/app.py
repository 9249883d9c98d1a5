"""The application factory: settings and adapters in, a FastAPI app out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.to_thread import run_sync
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from product_media import __version__
from product_media.api import (
    cors,
    docs,
    emulator,
    errors,
    files,
    images,
    media,
    observe,
    ops,
    page,
    products,
    profile,
    videos,
)
from product_media.api.faults import InjectFaults
from product_media.api.in_flight import CountWrites, WritesInFlight
from product_media.api.limits import BodyLimits, UploadRoutes
from product_media.api.page_session import RateLimited
from product_media.api.paths import TrailingSlash
from product_media.api.product_reads import ProductReads
from product_media.api.request_log import RequestLog
from product_media.api.state import AppState
from product_media.bootstrap import Adapters, build
from product_media.domain.seed import Seed, SeedConflict
from product_media.ingest.images import configure_vips
from product_media.logs import configure_logging
from product_media.seed_file import SeedFileError, load_seed
from product_media.service.jobs import JobRunner
from product_media.service.rendered import RenderedProducts
from product_media.service.seed import apply_seed
from product_media.service.sweep import sweep
from product_media.settings import Settings

log = logging.getLogger(__name__)

_PRODUCT = r"/api/v3/[^/]+/products/[^/]+"
# The routes whose body is an image's bytes (DESIGN section 8).
UPLOADS = UploadRoutes(
    [
        ("POST", _PRODUCT + "/image"),
        ("POST", _PRODUCT + "/gallery"),
        ("PUT", _PRODUCT + "/gallery/video/[^/]+"),
    ]
)


async def _renew_lease(adapters: Adapters, interval: float) -> None:
    """Keep this process's lease; one that lapsed (a long stall) is taken up again."""
    while True:
        await anyio.sleep(interval)
        try:
            if not await run_sync(adapters.leases.renew, adapters.owner):
                log.warning("lease of this process had run out; registering again")
                await run_sync(adapters.leases.register, adapters.owner)
        except Exception:
            # The database may be away for a moment; the next renewal tries again.
            log.exception("lease renewal failed")


def _sweep(adapters: Adapters, *, always_collect: bool) -> int:
    return sweep(
        adapters.catalog,
        adapters.blobs,
        adapters.leases,
        adapters.owner,
        always_collect=always_collect,
        scratch=adapters.scratch,
    )


async def _sweep_every(adapters: Adapters, interval: float) -> None:
    """Clear what other processes' crashes left, while this one keeps running."""
    while True:
        await anyio.sleep(interval)
        try:
            await run_sync(lambda: _sweep(adapters, always_collect=False))
        except Exception:
            # A failed sweep (a locked database, an unreachable bucket) is retried next time.
            log.exception("sweep failed")


class _Readiness:
    """The checks /readyz runs: the database and the blob store answer."""

    def __init__(self, adapters: Adapters) -> None:
        self._adapters = adapters

    def database(self) -> None:
        self._adapters.catalog.ping()

    def blobs(self) -> None:
        self._adapters.blobs.ping()


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


async def _end_lease(adapters: Adapters, writes: WritesInFlight, seconds: float) -> None:
    """End this process's lease once the writes that the server stopped have cleaned up. If
    some have not, the lease is left to run out: every replica's sweep then takes this process
    for dead and clears what those writes left, blobs included."""
    if await writes.wait_idle(seconds):
        await run_sync(adapters.leases.end, adapters.owner)
    else:
        log.warning(
            "stopping with %d writes unfinished; their files go when this lease runs out",
            writes.count,
        )


async def _seed(settings: Settings, adapters: Adapters) -> Seed | None:
    """Read the seed file that settings name and create what it asks for; SeedFileError."""
    path = settings.seed
    if path is None:
        return None
    seed = await run_sync(lambda: load_seed(path, max_gallery_items=settings.max_gallery_items))
    try:
        await apply_seed(
            adapters.catalog,
            adapters.storage,
            adapters.ingest,
            seed,
            time_limit=settings.update_timeout,
        )
    except SeedConflict as exc:
        raise SeedFileError(f"seed file {path}: {exc}") from None
    return seed


def create_app(settings: Settings, adapters: Adapters | None = None) -> FastAPI:
    """The app on `adapters`, or on those `settings` name when none are handed in."""

    writes = WritesInFlight()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_vips()
        built = adapters if adapters is not None else await run_sync(build, settings)
        try:
            await run_sync(built.catalog.migrate)
            await run_sync(built.prepare)
            await run_sync(built.leases.register, built.owner)
            try:
                await run_sync(lambda: _sweep(built, always_collect=True))
                seed = await _seed(settings, built)
                jobs = JobRunner(
                    built.storage, built.ingest, built.leases, time_limit=settings.update_timeout
                )
                app.state.product_media = AppState(
                    settings=settings,
                    adapters=built,
                    jobs=jobs,
                    rendered=RenderedProducts(settings.read_cache_bytes),
                    seed=seed,
                )
                app.state.readiness = _Readiness(built)
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(_renew_lease, built, settings.owner_lease / 3)
                    if settings.sweep_interval > 0:
                        tasks.start_soon(_sweep_every, built, settings.sweep_interval)
                    # Async image jobs, this server's and those of servers that died.
                    tasks.start_soon(jobs.run)
                    yield
                    tasks.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await _end_lease(built, writes, settings.shutdown_timeout)
        finally:
            with anyio.CancelScope(shield=True):
                await built.aclose()

    # FastAPIOffline: /docs (and docs.py's /redoc) load their scripts from this server, never
    # from a CDN.
    app = FastAPIOffline(
        redoc_url=None,
        static_url=docs.OFFLINE_ASSETS,
        title="product-media",
        version=__version__,
        summary="Product images and videos behind an Ecwid REST API v3 compatible API",
        lifespan=lifespan,
        # Metrics are Prometheus's (/metrics); FastAPI's OpenTelemetry hooks would only cost
        # every request a look for providers nobody configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # A trailing slash is answered directly (TrailingSlash), never redirected.
        redirect_slashes=False,
    )
    errors.install(app)
    app.include_router(products.router)
    app.include_router(media.router)
    app.include_router(videos.router)
    app.include_router(profile.router)
    app.include_router(images.router)
    app.include_router(files.router)
    app.include_router(ops.router())
    app.include_router(emulator.router)
    app.include_router(page.router)
    app.add_exception_handler(RateLimited, page.rate_limited)
    app.include_router(docs.router)
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_body_bytes,
        max_gallery_items=settings.max_gallery_items,
        uploads=UPLOADS,
        max_upload_bytes=settings.image_max_bytes,
        forms=UploadRoutes(page.FORM_ROUTES),
    )
    app.add_middleware(TrailingSlash)
    app.add_middleware(CountWrites, writes=writes)
    # Outside the layers a plain GET of a product has no use for, inside the injected faults.
    app.add_middleware(ProductReads)
    app.add_middleware(InjectFaults)
    cors.install(app, settings.cors_origins)
    # The emulator's log of API calls; this process's alone (the emulator runs one worker).
    app.state.request_log = RequestLog()
    observe.install(app, app.state.request_log)
    app.openapi = _openapi(app, settings)  # type: ignore[method-assign]
    return app


def apply_seed_once(settings: Settings) -> None:
    """Start the app and stop it again, which applies the seed: `serve` does it before it
    listens, so that a bad seed is one line (SeedFileError), not a failed start's traceback."""
    app = create_app(settings)

    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            pass

    anyio.run(start_and_stop)


def app_from_environment() -> FastAPI:
    """The app as a worker process of `serve --workers N` builds it: settings from the
    environment alone."""
    settings = Settings()
    configure_logging(settings.log_format)
    return create_app(settings)
