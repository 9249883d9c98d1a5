"""PUT /api/v3/{storeId}/products/{productId}/media: replace a product's media from URLs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from product_media.api.auth import HashedToken, StoreId, require
from product_media.api.client_gone import unless_client_leaves
from product_media.api.errors import documented
from product_media.api.observe import CLIENT_CLOSED
from product_media.api.products import ProductId
from product_media.api.schemas import MediaItemResult, MediaUpdateIn, MediaUpdateOut
from product_media.api.state import AppState, app_state
from product_media.domain.access import UPDATE_CATALOG, Grant
from product_media.domain.media_update import MediaUpdate, build_update
from product_media.domain.plan import ItemResult
from product_media.service import media

router = APIRouter()


def parse_update(body: MediaUpdateIn, max_gallery_items: int) -> MediaUpdate:
    """The update a PUT .../media body asks for (a seed file's `media` too); InvalidUpdate."""
    main = None if body.mainMedia is None else (body.mainMedia.imageUrl, body.mainMedia.videoUrl)
    gallery = [(item.imageUrl, item.videoUrl) for item in body.galleryMedia or ()]
    return build_update(main, gallery, max_gallery_items=max_gallery_items)


def _result(result: ItemResult) -> MediaItemResult:
    return MediaItemResult(
        success=result.success,
        id=result.id,
        errorCode=result.error_code,
        errorMessage=result.error_message,
        warning=result.warning,
    )


@router.put(
    "/api/v3/{storeId}/products/{productId}/media",
    response_model=MediaUpdateOut,
    response_model_exclude_none=True,
    responses=documented(400, 403, 404, 413, 415, 422, 429, 503),
    summary="Replace a product's main image/video and its whole gallery from URLs",
)
async def update_media(
    body: MediaUpdateIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    token: HashedToken,
    state: Annotated[AppState, Depends(app_state)],
    request: Request,
) -> dict[str, Any] | Response:
    update = parse_update(body, state.settings.max_gallery_items)
    results = await unless_client_leaves(
        request.receive,
        media.update_media(
            state.storage,
            state.adapters.ingest,
            store_id,
            product_id,
            update,
            token=token,
            time_limit=state.settings.update_timeout,
        ),
    )
    if results is None:
        # Nobody reads it; the status is for the access log and the metrics.
        return Response(status_code=CLIENT_CLOSED)
    out: dict[str, Any] = {"galleryMedia": [_result(r) for r in results.gallery]}
    if results.main is not None:
        out["mainMedia"] = _result(results.main)
    return out
