"""PUT /api/v3/{storeId}/products/{productId}/media: replace a product's media from URLs."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Request, Response
from starlette.types import Receive

from product_media.api.auth import StoreId, hashed_token, require
from product_media.api.errors import documented
from product_media.api.observe import CLIENT_CLOSED
from product_media.api.products import ProductId
from product_media.api.schemas import MediaItemResult, MediaUpdateIn, MediaUpdateOut
from product_media.api.state import AppState, app_state
from product_media.domain.access import UPDATE_CATALOG, Grant
from product_media.domain.media_update import MediaUpdate, build_update
from product_media.domain.plan import ItemResult
from product_media.service import media

T = TypeVar("T")

router = APIRouter()


async def _unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None if the client disconnects first, which cancels `work`.

    Work for a client that has gone stops rather than finishes: nobody will read the answer,
    a client that still wants the update sends it again, and stopping at once gives the
    store's share of the fetching back to its other requests. Stopped before its commit, an
    update changes nothing; once committing, it completes (service.media).
    """
    result: list[T] = []
    failure: list[Exception] = []

    async def watch(scope: anyio.CancelScope) -> None:
        # The body has been read, so the next message is the disconnect (the server sends it
        # when the connection closes, or once the response has gone).
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch, tasks.cancel_scope)
        try:
            result.append(await work)
        except Exception as exc:
            # Raised below: out of the task group it keeps its type for the error handlers,
            # where the group would wrap it.
            failure.append(exc)
        tasks.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return result[0] if result else None


def _parse(body: MediaUpdateIn, max_gallery_items: int) -> MediaUpdate:
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
    token: Annotated[str, Depends(hashed_token)],
    state: Annotated[AppState, Depends(app_state)],
    request: Request,
) -> dict[str, Any] | Response:
    update = _parse(body, state.settings.max_gallery_items)
    results = await _unless_client_leaves(
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
