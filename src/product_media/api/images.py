"""Ecwid's per-image endpoints (DESIGN section 8): upload a main or gallery image as bytes or
from a URL, at once or as a job; delete the main image, one gallery item, or the gallery's
images."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import WithJsonSchema

from product_media.api.auth import HashedToken, StoreId, require
from product_media.api.errors import ApiError, documented
from product_media.api.ids import MAX_ID
from product_media.api.products import ProductId
from product_media.api.schemas import AsyncImageIn, CreatedOut, DeletedOut
from product_media.api.state import AppState, app_state
from product_media.domain.access import UPDATE_CATALOG, UPDATE_CATALOG_BATCH_DELETE, Grant
from product_media.domain.image_edits import Target
from product_media.domain.media_update import (
    MAX_URL_LENGTH,
    URL_PATTERN,
    WRONG_URL,
    InvalidUpdate,
    wrong_url,
)
from product_media.service import images, jobs

router = APIRouter()

_PRODUCT = "/api/v3/{storeId}/products/{productId}"
# Digits only in the route itself ({galleryItemId:int}), so that .../gallery/async and
# .../gallery/video stay other paths: a DELETE there is a 405, not a bad item id.
GalleryItemId = Annotated[
    int,
    Path(alias="galleryItemId", gt=0, le=MAX_ID, description="galleryImages[].id, or a video's id"),
]
ExternalUrl = Annotated[
    str | None,
    Query(
        alias="externalUrl",
        max_length=10_000,
        description="An image to fetch instead of one sent in the body (which is then ignored)",
    ),
    # What is accepted, as for PUT .../media (anything else is a 422 WRONG_URL); a query
    # parameter is a string or absent, never null.
    WithJsonSchema({"type": "string", "pattern": URL_PATTERN, "maxLength": MAX_URL_LENGTH}),
]
UPLOAD_ERRORS = documented(
    400,
    403,
    404,
    413,
    415,
    422,
    429,
    503,
    notes={
        413: "REQUEST_TOO_LARGE: the image is over the image byte limit",
        415: "UNSUPPORTED_MEDIA_TYPE: send the bytes as application/octet-stream or image/*",
        422: "INVALID_IMAGE (the body is not a usable image), WRONG_URL (a malformed "
        "externalUrl) or DOWNLOAD_IMAGE_FAILED (its source cannot be used), with the reason",
    },
)
ASYNC_ERRORS = documented(
    400, 403, 404, 413, 415, 422, 429, notes={422: "WRONG_URL: a url that cannot be fetched"}
)
DELETE_ERRORS = documented(400, 403, 404, 429, 503)


def binary_body(description: str) -> dict[str, Any]:
    """An upload's bytes as /openapi.json shows the request body (optional: none with
    externalUrl)."""
    schema = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "description": description,
            "required": False,
            "content": {"application/octet-stream": {"schema": schema}},
        }
    }


_BINARY_BODY = binary_body(
    "The image's bytes (JPEG, PNG, GIF or WebP), sent as application/octet-stream or image/*; "
    "none with externalUrl"
)


async def image_source(request: Request, external_url: str | None) -> images.ImageSource:
    """The image a request names: externalUrl when given (as on Ecwid, the body is then
    ignored), else the body's bytes."""
    if external_url is not None:
        if (reason := wrong_url("externalUrl", external_url)) is not None:
            raise InvalidUpdate(WRONG_URL, reason)
        return images.ImageSource(url=external_url)
    content = await request.body()
    if not content:
        raise ApiError(400, "WRONG_PARAMETER", "Send the image's bytes in the body, or externalUrl")
    return images.ImageSource(content=content)


async def _upload(
    request: Request,
    state: AppState,
    store_id: int,
    product_id: int,
    target: Target,
    external_url: str | None,
    token: str,
) -> dict[str, int]:
    image_id = await images.add_image_from(
        state.storage,
        state.adapters.ingest,
        store_id,
        product_id,
        target,
        await image_source(request, external_url),
        token=token,
        time_limit=state.settings.update_timeout,
    )
    return {"id": image_id}


@router.post(
    _PRODUCT + "/image",
    response_model=CreatedOut,
    responses=UPLOAD_ERRORS,
    openapi_extra=_BINARY_BODY,
    summary="Replace the main image (the main video stays); answers the image's id",
)
async def upload_main_image(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    token: HashedToken,
    state: Annotated[AppState, Depends(app_state)],
    external_url: ExternalUrl = None,
) -> dict[str, int]:
    return await _upload(request, state, store_id, product_id, "main", external_url, token)


@router.post(
    _PRODUCT + "/gallery",
    response_model=CreatedOut,
    responses=UPLOAD_ERRORS,
    openapi_extra=_BINARY_BODY,
    summary="Append an image to the gallery; answers its id (galleryImages[].id)",
)
async def upload_gallery_image(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    token: HashedToken,
    state: Annotated[AppState, Depends(app_state)],
    external_url: ExternalUrl = None,
    _file_name: Annotated[
        str | None,
        Query(alias="fileName", max_length=1000, description="The image's title (accepted)"),
    ] = None,
) -> dict[str, int]:
    return await _upload(request, state, store_id, product_id, "gallery", external_url, token)


async def _accept(
    body: AsyncImageIn, state: AppState, store_id: int, product_id: int, target: Target
) -> dict[str, int]:
    if (reason := wrong_url("url", body.url)) is not None:
        raise InvalidUpdate(WRONG_URL, reason)
    details = body.model_dump(exclude={"url"}, exclude_none=True)
    job_id = await jobs.accept_job(state.storage, store_id, product_id, target, body.url, details)
    if state.jobs is not None:
        state.jobs.wake()
    return {"id": job_id}


@router.post(
    _PRODUCT + "/image/async",
    response_model=CreatedOut,
    responses=ASYNC_ERRORS,
    summary="Replace the main image from a URL, in the background; answers its id at once",
)
async def upload_main_image_async(
    body: AsyncImageIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    return await _accept(body, state, store_id, product_id, "main")


@router.post(
    _PRODUCT + "/gallery/async",
    response_model=CreatedOut,
    responses=ASYNC_ERRORS,
    summary="Append an image from a URL to the gallery, in the background, in the order "
    "accepted; answers its id at once",
)
async def upload_gallery_image_async(
    body: AsyncImageIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    return await _accept(body, state, store_id, product_id, "gallery")


@router.delete(
    _PRODUCT + "/image",
    response_model=DeletedOut,
    responses=DELETE_ERRORS,
    summary="Delete the main image (the main video stays)",
)
async def delete_main_image(
    store_id: StoreId,
    product_id: ProductId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    count = await images.remove_main_image(
        state.storage, state.adapters.ingest, store_id, product_id
    )
    return {"deleteCount": count}


@router.delete(
    _PRODUCT + "/gallery/{galleryItemId:int}",
    response_model=DeletedOut,
    responses=DELETE_ERRORS,
    summary="Delete the gallery image or video of that id",
)
async def delete_gallery_item(
    store_id: StoreId,
    product_id: ProductId,
    item_id: GalleryItemId,
    _grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    count = await images.remove_gallery_item(
        state.storage, state.adapters.ingest, store_id, product_id, item_id
    )
    return {"deleteCount": count}


@router.delete(
    _PRODUCT + "/gallery",
    response_model=DeletedOut,
    responses=DELETE_ERRORS,
    summary="Delete every gallery image (gallery videos and the main image stay); scopes "
    "update_catalog and update_catalog_batch_delete",
)
async def delete_gallery_images(
    store_id: StoreId,
    product_id: ProductId,
    grant: Annotated[Grant, Depends(require(UPDATE_CATALOG))],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, int]:
    if UPDATE_CATALOG_BATCH_DELETE not in grant.scopes:
        raise ApiError(
            403,
            "INSUFFICIENT_APP_SCOPE",
            f"Access token doesn't have the {UPDATE_CATALOG_BATCH_DELETE} scope",
        )
    count = await images.remove_gallery_images(
        state.storage, state.adapters.ingest, store_id, product_id
    )
    return {"deleteCount": count}
