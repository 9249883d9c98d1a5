"""GET /media/{key}: stored blobs, immutable and cacheable forever (their names are hashes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import FileResponse
from pydantic.json_schema import SkipJsonSchema
from starlette.types import Message, Receive, Scope, Send

from product_media.api.errors import ApiError, documented, error_response
from product_media.api.state import AppState, app_state
from product_media.ingest.formats import ALL_FORMATS, by_extension
from product_media.storage.blobs import is_blob_key

router = APIRouter()

CACHE_CONTROL = "public, max-age=31536000, immutable"

_CACHE_HEADERS = {
    "ETag": {
        "description": "Strong, the content hash",
        "required": True,
        "schema": {"type": "string"},
    },
    "Cache-Control": {"required": True, "schema": {"type": "string", "const": CACHE_CONTROL}},
    "X-Content-Type-Options": {"required": True, "schema": {"type": "string", "const": "nosniff"}},
}
_FILE = {"schema": {"type": "string", "format": "binary"}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, byte for byte (also when the Range header is malformed)",
        "content": {fmt.mime: _FILE for fmt in ALL_FORMATS},
        "headers": _CACHE_HEADERS,
    },
    206: {
        "description": "The requested byte range(s) of the file",
        "content": {
            **{fmt.mime: _FILE for fmt in ALL_FORMATS},
            "multipart/byteranges": _FILE,
        },
        "headers": _CACHE_HEADERS,
    },
    304: {"description": "Not modified: If-None-Match names this file", "headers": _CACHE_HEADERS},
    **documented(404, 416, notes={404: "NOT_FOUND: no such file"}),
}

# Starlette reads Range itself; declaring it documents it, and so gets it fuzzed.
RangeHeader = Annotated[
    str | SkipJsonSchema[None],
    Header(alias="Range", description="bytes=START-END[, ...], as in RFC 9110"),
]
IfNoneMatch = Annotated[
    str | SkipJsonSchema[None],
    Header(alias="If-None-Match", description="ETags the client holds already"),
]


class _BlobFile(FileResponse):
    """A FileResponse that ignores a malformed Range (RFC 9110 lets a server serve the whole
    file instead) and answers an unsatisfiable one as every other error: {errorMessage,
    errorCode}, keeping Content-Range. Starlette would answer both itself, in plain text.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused: Message | None = None

        async def relay(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] in (400, 416):
                refused = message
            elif refused is None:
                await send(message)

        await super().__call__(scope, receive, relay)
        if refused is None:
            return
        if refused["status"] == 400:
            without_range = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
            await super().__call__({**scope, "headers": without_range}, receive, send)
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in refused.get("headers", [])
            if name.lower() == b"content-range"
        }
        error = error_response(
            416, "RANGE_NOT_SATISFIABLE", "The Range is past the end of the file", headers
        )
        await error(scope, receive, send)


async def _blob(key: str, state: AppState, if_none_match: str | None) -> Response:
    fmt = by_extension(key.rpartition(".")[2]) if is_blob_key(key) else None
    if fmt is None or not (path := state.blobs.path(key)).is_file():
        raise ApiError(404, "NOT_FOUND", "No such media file")
    etag = f'"{key.partition(".")[0]}"'
    # Originals are kept byte for byte, polyglots included: a browser must never take a
    # JPEG+HTML file for a page.
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return _BlobFile(path, media_type=fmt.mime, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/media/{key}", responses=_RESPONSES, response_class=Response)
@router.head("/media/{key}", responses=_RESPONSES, response_class=Response)
async def media_file(
    key: str,
    state: Annotated[AppState, Depends(app_state)],
    _range: RangeHeader = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await _blob(key, state, if_none_match)
