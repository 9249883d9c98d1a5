"""Ecwid's single-video endpoints (DESIGN section 8): add a main or gallery video from a URL,
delete the main video, read a gallery video, replace a gallery video's cover. (A gallery
video is deleted by DELETE .../gallery/{id}, as an image is: api/images.py.)"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from product_media.api.auth import HashedToken, StoreId, require
from product_media.api.client_gone import unless_client_leaves
from product_media.api.errors import documented
from product_media.api.ids import MAX_ID, PLAIN_DECIMAL
from product_media.api.images import ExternalUrl, binary_body, image_source
from product_media.api.observe import CLIENT_CLOSED
from product_media.api.products import ProductId, url_maker
from product_media.api.render import video_json
from product_media.api.schemas import CreatedOut, DeletedOut, GalleryVideoOut, VideoUrlIn
from product_media.api.state import AppState, app_state
from product_media.domain.access import READ_CATALOG, UPDATE_CATALOG, Grant
from product_media.domain.media_update import WRONG_URL, InvalidUpdate, wrong_url
from product_media.domain.video_edits import Target
from product_media.service import videos

router = APIRouter()

_PRODUCT = "/api/v3/{storeId}/products/{productId}"
_GALLERY_VIDEO = _PRODUCT + "/gallery/video/{galleryVideoId}"

VideoId = Annotated[
    int,
    Path(alias="galleryVideoId", gt=0, le=MAX_ID, description="Internal id of a gallery video"),
    PLAIN_DECIMAL,
]
Updating = Annotated[Grant, Depends(require(UPDATE_CATALOG))]
Reading = Annotated[Grant, Depends(require(READ_CATALOG))]
State = Annotated[AppState, Depends(app_state)]

ADD_ERRORS = documented(
    400,
    403,
    404,
    413,
    415,
    422,
    429,
    503,
    notes={
        422: "WRONG_URL (a malformed url); NOT_VIDEO_URL (a page, an image, a file with no "
        "video stream), VIDEO_NOT_SUPPORTED (over a limit, a container or codec not allowed) "
        "or VIDEO_UNAVAILABLE (cannot be fetched, or broken), with the reason",
    },
)
COVER_ERRORS = documented(
    400,
    403,
    404,
    413,
    415,
    422,
    429,
    503,
    notes={
        404: "PRODUCT_NOT_FOUND or VIDEO_NOT_FOUND",
        413: "REQUEST_TOO_LARGE: the image is over the image byte limit",
        415: "UNSUPPORTED_MEDIA_TYPE: send the JPEG as image/jpeg or application/octet-stream",
        422: "INVALID_IMAGE (the body is not a usable JPEG image), WRONG_URL (a malformed "
        "externalUrl) or DOWNLOAD_IMAGE_FAILED (its source cannot be used), with the reason",
    },
)
_JPEG_BODY = binary_body(
    "The cover's JPEG bytes, sent as image/jpeg or application/octet-stream; none with externalUrl"
)


async def _answer(request: Request, work: Awaitable[int]) -> dict[str, int] | Response:
    """`{"id": N}`; a client that leaves first stops the write (a video may take minutes)."""
    new_id = await unless_client_leaves(request.receive, work)
    if new_id is None:
        # Nobody reads it; the status is for the access log and the metrics.
        return Response(status_code=CLIENT_CLOSED)
    return {"id": new_id}


async def _add(
    request: Request,
    state: AppState,
    body: VideoUrlIn,
    store_id: int,
    product_id: int,
    token: str,
    target: Target,
) -> dict[str, int] | Response:
    if (reason := wrong_url("url", body.url)) is not None:
        raise InvalidUpdate(WRONG_URL, reason)
    work = videos.add_video(
        state.storage,
        state.adapters.ingest,
        store_id,
        product_id,
        target,
        body.url,
        token=token,
        time_limit=state.settings.update_timeout,
    )
    return await _answer(request, work)


@router.post(
    _PRODUCT + "/video",
    response_model=CreatedOut,
    responses=ADD_ERRORS,
    summary="Replace the main video (the main image stays) from a video file's URL or a "
    "YouTube/Vimeo link; answers the video's id",
)
async def add_main_video(
    request: Request,
    body: VideoUrlIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Updating,
    token: HashedToken,
    state: State,
) -> dict[str, int] | Response:
    return await _add(request, state, body, store_id, product_id, token, "main")


@router.post(
    _PRODUCT + "/gallery/video",
    response_model=CreatedOut,
    responses=ADD_ERRORS,
    summary="Append a video to the gallery from a video file's URL or a YouTube/Vimeo link; "
    "answers the video's id",
)
async def add_gallery_video(
    request: Request,
    body: VideoUrlIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Updating,
    token: HashedToken,
    state: State,
) -> dict[str, int] | Response:
    return await _add(request, state, body, store_id, product_id, token, "gallery")


@router.delete(
    _PRODUCT + "/video",
    response_model=DeletedOut,
    responses=documented(400, 403, 404, 429, 503),
    summary="Delete the main video (the main image stays)",
)
async def delete_main_video(
    store_id: StoreId, product_id: ProductId, _grant: Updating, state: State
) -> dict[str, int]:
    count = await videos.remove_main_video(
        state.storage, state.adapters.ingest, store_id, product_id
    )
    return {"deleteCount": count}


@router.get(
    _GALLERY_VIDEO,
    response_model=GalleryVideoOut,
    response_model_exclude_none=True,
    responses=documented(400, 403, 404, 429, notes={404: "PRODUCT_NOT_FOUND or VIDEO_NOT_FOUND"}),
    summary="A gallery video as media.videos[] shows it, with its internal id",
)
async def get_gallery_video(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    video_id: VideoId,
    grant: Reading,
    state: State,
) -> dict[str, Any]:
    video, order_by = await videos.gallery_video(
        state.storage, store_id, product_id, video_id, enabled_only=grant.kind == "public"
    )
    return video_json(video, video_id, order_by, url_maker(request, state))


@router.put(
    _GALLERY_VIDEO,
    response_model=CreatedOut,
    responses=COVER_ERRORS,
    openapi_extra=_JPEG_BODY,
    summary="Replace a gallery video's cover with a JPEG sent or ?externalUrl=; answers the "
    "cover image's id",
)
async def set_gallery_video_cover(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    video_id: VideoId,
    _grant: Updating,
    token: HashedToken,
    state: State,
    external_url: ExternalUrl = None,
) -> dict[str, int] | Response:
    work = videos.set_cover(
        state.storage,
        state.adapters.ingest,
        store_id,
        product_id,
        video_id,
        await image_source(request, external_url),
        token=token,
        time_limit=state.settings.update_timeout,
    )
    return await _answer(request, work)
