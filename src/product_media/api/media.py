"""PUT /api/v3/{storeId}/products/{productId}/media: replace a product's media from URLs."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from product_media.api.auth import StoreId, require
from product_media.api.errors import ApiError, documented
from product_media.api.products import ProductId, product_not_found
from product_media.api.schemas import MediaItemResult, MediaUpdateIn, MediaUpdateOut
from product_media.api.state import AppState, app_state
from product_media.domain.access import UPDATE_CATALOG, Grant
from product_media.domain.media import MediaSet
from product_media.domain.media_update import InvalidUpdate, MediaUpdate, build_update
from product_media.domain.plan import ItemResult, UpdateResults, plan, wanted_sources

router = APIRouter()
log = logging.getLogger(__name__)


def _parse(body: MediaUpdateIn, max_gallery_items: int) -> MediaUpdate:
    main = None if body.mainMedia is None else (body.mainMedia.imageUrl, body.mainMedia.videoUrl)
    gallery = [(item.imageUrl, item.videoUrl) for item in body.galleryMedia or ()]
    try:
        return build_update(main, gallery, max_gallery_items=max_gallery_items)
    except InvalidUpdate as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc


def _result(result: ItemResult) -> MediaItemResult:
    return MediaItemResult(
        success=result.success,
        id=result.id,
        errorCode=result.error_code,
        errorMessage=result.error_message,
        warning=result.warning,
    )


async def _discard(state: AppState, claim: str) -> None:
    """Drop what an unfinished update wrote; shielded so that a cancelled request cleans up."""
    with anyio.CancelScope(shield=True):
        keys = await run_in_threadpool(state.catalog.release, claim)
        await run_in_threadpool(state.catalog.collect_garbage, keys, state.blobs.delete)


async def apply_update(
    state: AppState, store_id: int, product_id: int, update: MediaUpdate
) -> UpdateResults:
    """Ingest the update's sources, then commit the planned media set in one transaction."""
    if not await run_in_threadpool(state.catalog.product_exists, store_id, product_id):
        raise product_not_found(product_id)
    claim = uuid.uuid4().hex

    async def put(contents: dict[str, bytes]) -> None:
        def write() -> None:
            for key, content in contents.items():
                state.blobs.put(key, content)

        await run_in_threadpool(state.catalog.claim, claim, state.owner, list(contents), write)

    try:
        fetched = await state.pipeline.run(wanted_sources(update), put)

        def decide(current: MediaSet) -> tuple[MediaSet, UpdateResults]:
            return plan(current, update, fetched)

        committed = await run_in_threadpool(
            state.catalog.update_media, store_id, product_id, claim, decide
        )
    except BaseException:
        await _discard(state, claim)
        raise
    if committed is None:
        await _discard(state, claim)
        raise product_not_found(product_id)
    results, garbage = committed
    removed = await run_in_threadpool(state.catalog.collect_garbage, garbage, state.blobs.delete)
    items = [results.main] if results.main is not None else []
    items.extend(results.gallery)
    log.info(
        "media update of product %d in store %d: %d of %d items stored, %d files removed",
        product_id,
        store_id,
        sum(item.success for item in items),
        len(items),
        removed,
    )
    return results


@router.put(
    "/api/v3/{storeId}/products/{productId}/media",
    response_model=MediaUpdateOut,
    response_model_exclude_none=True,
    responses=documented(400, 403, 404, 413, 415, 422, 429),
    summary="Replace a product's main image/video and its whole gallery from URLs",
)
async def update_media(
    body: MediaUpdateIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, Any]:
    update = _parse(body, state.settings.max_gallery_items)
    results = await apply_update(state, store_id, product_id, update)
    out: dict[str, Any] = {"galleryMedia": [_result(r) for r in results.gallery]}
    if results.main is not None:
        out["mainMedia"] = _result(results.main)
    return out
