"""GET /media/{key}: stored blobs, immutable and cacheable forever (their names are hashes)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic.json_schema import SkipJsonSchema
from starlette.types import Receive, Scope, Send

from product_media.api.errors import ApiError, documented
from product_media.api.state import AppState, app_state
from product_media.domain.blob_keys import is_blob_key
from product_media.ingest.formats import ALL_FORMATS, by_extension
from product_media.storage.byte_ranges import parse_range_header
from product_media.storage.ports import OpenedBlob, RangeNotSatisfiable

log = logging.getLogger(__name__)

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
        "description": "The file, byte for byte (also when the Range header is malformed or "
        "asks for more than one range)",
        "content": {fmt.mime: _FILE for fmt in ALL_FORMATS},
        "headers": _CACHE_HEADERS,
    },
    206: {
        "description": "The requested byte range of the file",
        "content": {fmt.mime: _FILE for fmt in ALL_FORMATS},
        "headers": _CACHE_HEADERS,
    },
    304: {"description": "Not modified: If-None-Match names this file", "headers": _CACHE_HEADERS},
    **documented(404, 416, notes={404: "NOT_FOUND: no such file"}),
}

RangeHeader = Annotated[
    str | SkipJsonSchema[None],
    Header(alias="Range", description="bytes=START-END, bytes=START- or bytes=-LENGTH (RFC 9110)"),
]
IfNoneMatch = Annotated[
    str | SkipJsonSchema[None],
    Header(alias="If-None-Match", description="ETags the client holds already"),
]


class _BlobResponse(Response):
    """Streams what was opened, reading in worker threads, and closes it however the response
    ends: complete, a HEAD, a client gone away, or a failed read."""

    def __init__(
        self, key: str, blob: OpenedBlob, status_code: int, headers: dict[str, str], mime: str
    ) -> None:
        super().__init__(status_code=status_code, headers=headers, media_type=mime)
        self._key = key
        self._blob = blob

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            async with anyio.create_task_group() as tasks:
                # Before ASGI 2.4 a send to a client that left succeeds silently: without
                # watching for the disconnect, the rest of the blob would be read for nobody.
                tasks.start_soon(self._until_disconnect, receive, tasks.cancel_scope)
                await self._stream(send)
                tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._blob.close)

    async def _until_disconnect(self, receive: Receive, streaming: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        streaming.cancel()

    async def _stream(self, send: Send) -> None:
        sent = 0
        while True:
            try:
                chunk = await anyio.to_thread.run_sync(next, self._blob.chunks, b"")
            except Exception as exc:
                # The status is sent already: returning without the last body message makes
                # the server drop the connection, so the client sees a short, failed response.
                log.warning(
                    "media %s: read failed after %d of %d bytes (%s)",
                    self._key,
                    sent,
                    self._blob.length,
                    type(exc).__name__,
                )
                return
            if not chunk:
                break
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "No such media file")


async def _blob(
    key: str, state: AppState, byte_range: str | None, if_none_match: str | None, method: str
) -> Response:
    fmt = by_extension(key.rpartition(".")[2]) if is_blob_key(key) else None
    if fmt is None:
        raise _not_found()
    etag = f'"{key.partition(".")[0]}"'
    # Originals are kept byte for byte, polyglots included: a browser must never take a
    # JPEG+HTML file for a page.
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if if_none_match is not None and _matches(if_none_match, etag):
        if not await anyio.to_thread.run_sync(state.adapters.blobs.exists, key):
            raise _not_found()
        return Response(status_code=304, headers=headers)
    # RFC 9110 defines ranges for GET only; an unreadable Range gets the whole file.
    wanted = parse_range_header(byte_range) if byte_range and method == "GET" else None
    try:
        blob = await anyio.to_thread.run_sync(state.adapters.blobs.open, key, wanted)
    except RangeNotSatisfiable as exc:
        raise ApiError(
            416,
            "RANGE_NOT_SATISFIABLE",
            "The Range is past the end of the file",
            {"Content-Range": f"bytes */{exc.size}"},
        ) from None
    if blob is None:
        raise _not_found()
    headers["Accept-Ranges"] = "bytes"
    headers["Content-Length"] = str(blob.length)
    if wanted is None:
        return _BlobResponse(key, blob, 200, headers, fmt.mime)
    headers["Content-Range"] = f"bytes {blob.start}-{blob.end}/{blob.size}"
    return _BlobResponse(key, blob, 206, headers, fmt.mime)


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/media/{key}", responses=_RESPONSES, response_class=Response)
@router.head("/media/{key}", responses=_RESPONSES, response_class=Response)
async def media_file(
    request: Request,
    key: str,
    state: Annotated[AppState, Depends(app_state)],
    byte_range: RangeHeader = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return await _blob(key, state, byte_range, if_none_match, request.method)
