"""Ecwid's single-video endpoints (DESIGN section 8): add a main or gallery video from a URL,
delete the main video, read a gallery video, replace a gallery video's cover."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic.json_schema import SkipJsonSchema

from product_media.api.auth import StoreId, require
from product_media.api.errors import ApiError, documented
from product_media.api.ids import MAX_ID, PLAIN_DECIMAL
from product_media.api.media import _hashed_token, _unless_client_leaves
from product_media.api.observe import CLIENT_CLOSED
from product_media.api.products import ProductId, url_maker
from product_media.api.render import video_json
from product_media.api.schemas import CreatedOut, DeletedOut, GalleryVideoOut, VideoUrlIn
from product_media.api.state import AppState, app_state
from product_media.domain.access import READ_CATALOG, UPDATE_CATALOG, Grant
from product_media.domain.media_update import WRONG_PARAMETER, WRONG_URL, wrong_url
from product_media.service import videos

T = TypeVar("T")

router = APIRouter()

_PRODUCT = "/api/v3/{storeId}/products/{productId}"
_GALLERY_VIDEO = _PRODUCT + "/gallery/video/{galleryVideoId}"

VideoId = Annotated[
    int,
    Path(alias="galleryVideoId", gt=0, le=MAX_ID, description="Internal id of a gallery video"),
    PLAIN_DECIMAL,
]
ExternalUrl = Annotated[
    str | SkipJsonSchema[None],
    Query(alias="externalUrl", description="An image to fetch; the body is then ignored"),
]
Updating = Annotated[Grant, Depends(require(UPDATE_CATALOG))]
Reading = Annotated[Grant, Depends(require(READ_CATALOG))]
Token = Annotated[str, Depends(_hashed_token)]
State = Annotated[AppState, Depends(app_state)]

_ADD_NOTES = {
    404: "PRODUCT_NOT_FOUND",
    422: "WRONG_URL (a malformed url); NOT_VIDEO_URL (a page, an image, a file with no video "
    "stream), VIDEO_NOT_SUPPORTED (over a limit, a container or codec not allowed) or "
    "VIDEO_UNAVAILABLE (cannot be fetched, or broken), with the reason",
}
_COVER_NOTES = {
    404: "PRODUCT_NOT_FOUND or VIDEO_NOT_FOUND",
    413: "REQUEST_TOO_LARGE: the image is over the image size limit",
    415: "UNSUPPORTED_MEDIA_TYPE: send the JPEG as image/jpeg or application/octet-stream",
    422: "WRONG_URL (a malformed externalUrl); INVALID_IMAGE (the body is not a JPEG image) or "
    "DOWNLOAD_IMAGE_FAILED (the externalUrl cannot be used), with the reason",
}


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as Ecwid's answers."""
    try:
        yield
    except videos.VideoRefused as exc:
        raise ApiError(422, exc.code, exc.message) from None
    except videos.VideoNotFound as exc:
        raise ApiError(404, "VIDEO_NOT_FOUND", str(exc)) from None
    except videos.GalleryFull as exc:
        raise ApiError(400, WRONG_PARAMETER, str(exc)) from None


def _checked_url(field: str, url: str) -> str:
    if (reason := wrong_url(field, url)) is not None:
        raise ApiError(422, WRONG_URL, reason)
    return url


async def _write(request: Request, work: Awaitable[int]) -> dict[str, int] | Response:
    """`{"id": N}`, unless the client left first (the write is then stopped)."""
    with _refusals():
        new_id = await _unless_client_leaves(request.receive, work)
    if new_id is None:
        # Nobody reads it; the status is for the access log and the metrics.
        return Response(status_code=CLIENT_CLOSED)
    return {"id": new_id}


async def _add(
    request: Request, body: VideoUrlIn, store_id: int, product_id: int, token: str, *, main: bool
) -> dict[str, int] | Response:
    state: AppState = app_state(request)
    work = videos.add_video(
        state.storage,
        state.adapters.ingest,
        store_id,
        product_id,
        _checked_url("url", body.url),
        main=main,
        max_gallery_items=state.settings.max_gallery_items,
        token=token,
        time_limit=state.settings.update_timeout,
    )
    return await _write(request, work)


@router.post(
    _PRODUCT + "/video",
    response_model=CreatedOut,
    responses=documented(400, 403, 404, 413, 415, 422, 429, 503, notes=_ADD_NOTES),
    summary="Add or replace the main video: a video file's URL or a YouTube/Vimeo link",
)
async def add_main_video(
    request: Request,
    body: VideoUrlIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Updating,
    token: Token,
) -> dict[str, int] | Response:
    return await _add(request, body, store_id, product_id, token, main=True)


@router.post(
    _PRODUCT + "/gallery/video",
    response_model=CreatedOut,
    responses=documented(400, 403, 404, 413, 415, 422, 429, 503, notes=_ADD_NOTES),
    summary="Append a video to the gallery: a video file's URL or a YouTube/Vimeo link",
)
async def add_gallery_video(
    request: Request,
    body: VideoUrlIn,
    store_id: StoreId,
    product_id: ProductId,
    _grant: Updating,
    token: Token,
) -> dict[str, int] | Response:
    return await _add(request, body, store_id, product_id, token, main=False)


@router.delete(
    _PRODUCT + "/video",
    response_model=DeletedOut,
    responses=documented(400, 403, 404, 429, 503),
    summary="Delete the main video (the main image stays)",
)
async def delete_main_video(
    store_id: StoreId, product_id: ProductId, _grant: Updating, token: Token, state: State
) -> dict[str, int]:
    count = await videos.delete_main_video(
        state.storage, state.adapters.ingest, store_id, product_id, token=token
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
    _grant: Reading,
    state: State,
) -> dict[str, Any]:
    with _refusals():
        video, order_by = await videos.gallery_video(state.storage, store_id, product_id, video_id)
    return video_json(video, video_id, order_by, url_maker(request, state))


@router.put(
    _GALLERY_VIDEO,
    response_model=CreatedOut,
    responses=documented(400, 403, 404, 413, 415, 422, 429, 503, notes=_COVER_NOTES),
    summary="Replace a gallery video's cover: JPEG bytes in the body, or ?externalUrl=",
    openapi_extra={
        "requestBody": {
            "content": {
                mime: {"schema": {"type": "string", "format": "binary"}}
                for mime in ("image/jpeg", "application/octet-stream")
            }
        }
    },
)
async def set_gallery_video_cover(
    request: Request,
    store_id: StoreId,
    product_id: ProductId,
    video_id: VideoId,
    _grant: Updating,
    token: Token,
    state: State,
    external_url: ExternalUrl = None,
) -> dict[str, int] | Response:
    url = None if external_url is None else _checked_url("externalUrl", external_url)
    body = None if url is not None else await request.body()
    if url is None and not body:
        raise ApiError(400, WRONG_PARAMETER, "Send the cover's JPEG bytes, or ?externalUrl=")
    work = videos.set_cover(
        state.storage,
        state.adapters.ingest,
        store_id,
        product_id,
        video_id,
        body=body,
        url=url,
        token=token,
        time_limit=state.settings.update_timeout,
    )
    return await _write(request, work)
