"""GET /media/{key}: stored blobs, immutable and cacheable forever (their names are hashes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse

from product_media.api.errors import ApiError
from product_media.api.state import AppState, app_state
from product_media.ingest.formats import by_extension
from product_media.storage.blobs import is_blob_key

router = APIRouter()

CACHE_CONTROL = "public, max-age=31536000, immutable"


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.api_route("/media/{key}", methods=["GET", "HEAD"], include_in_schema=True)
async def get_blob(
    key: str, request: Request, state: Annotated[AppState, Depends(app_state)]
) -> Response:
    fmt = by_extension(key.rpartition(".")[2]) if is_blob_key(key) else None
    if fmt is None or not (path := state.blobs.path(key)).is_file():
        raise ApiError(404, "NOT_FOUND", "No such media file")
    etag = f'"{key.partition(".")[0]}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=fmt.mime, headers=headers)
