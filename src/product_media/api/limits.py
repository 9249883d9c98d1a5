"""Request-body rules applied before routing: JSON, image bytes on the upload routes that
take them, or an HTML form on the media page's form routes (else 415); at most N bytes and at
most MAX_JSON_ITEMS items (413); and the gallery limit that validation checks before it looks at
any item."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from product_media.api.schemas import GALLERY_LIMIT

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_FORM = "application/x-www-form-urlencoded"

# Decoding JSON holds the event loop, in a worker thread too (the decoder keeps the GIL):
# about 50 ms for 1 MiB of tiny items ([1,1,...] or [{},{},...]), and four clients sending
# such bodies stall every other request. Refusing more items than this before decoding keeps
# a decode near 10 ms; a real body holds a few hundred.
MAX_JSON_ITEMS = 65_536
_ITEM_MARKS = b",[{"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _is_binary(media_type: str) -> bool:
    return media_type == "application/octet-stream" or media_type.startswith("image/")


class UploadRoutes:
    """The (method, path pattern) pairs whose body is a file's bytes, not JSON."""

    def __init__(self, routes: Iterable[tuple[str, str]]) -> None:
        self._routes = [(method, re.compile(pattern)) for method, pattern in routes]

    def __contains__(self, request: tuple[str, str]) -> bool:
        method, path = request
        return any(m == method and p.fullmatch(path) for m, p in self._routes)

    def other_method(self, method: str, path: str) -> bool:
        """Whether `path` takes a file's bytes by another method than `method`."""
        return any(m != method and p.fullmatch(path) for m, p in self._routes)


async def _reject(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"errorMessage": message, "errorCode": code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _most_items(body: bytes) -> int:
    """At least as many as the array elements and object members in the JSON `body`: all
    but the first of each array or object follow a comma, and each opens with a bracket.
    (Those inside strings count too.) About 1 ms a MiB."""
    return len(body) - len(body.translate(None, _ITEM_MARKS))


class BodyLimits:
    """Buffers a request body of at most `max_bytes` (JSON bodies are small) or, on `uploads`,
    `max_upload_bytes` of a file; checks its type; and gives validation this app's
    `max_gallery_items` (None: the domain rule checks it)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_gallery_items: int | None = None,
        uploads: UploadRoutes | None = None,
        max_upload_bytes: int = 0,
        forms: UploadRoutes | None = None,
    ) -> None:
        self.app = app
        # The routes that take an HTML form (the media page's), as small as JSON bodies.
        self.forms = forms or UploadRoutes(())
        self.max_bytes = max_bytes
        self.max_gallery_items = max_gallery_items
        self.uploads = uploads or UploadRoutes(())
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        media_type = _media_type(headers.get(b"content-type", b"").decode("latin-1"))
        max_bytes = self.max_bytes
        upload = (scope["method"], scope["path"]) in self.uploads
        if not upload and self.uploads.other_method(scope["method"], scope["path"]):
            # A method the path does not take: routing answers 405, whatever the body.
            await self.app(scope, receive, send)
            return
        if upload:
            if media_type and not _is_binary(media_type):
                await _reject(
                    send,
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "Send the image's bytes as application/octet-stream or image/*",
                )
                return
            max_bytes = self.max_upload_bytes
        elif (scope["method"], scope["path"]) in self.forms:
            if media_type != _FORM:
                await _reject(send, 415, "UNSUPPORTED_MEDIA_TYPE", f"Send the form as {_FORM}")
                return
        elif media_type and not _is_json(media_type):
            await _reject(send, 415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json")
            return
        too_large = f"The request body is larger than {max_bytes} bytes"
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > max_bytes:
            await _reject(send, 413, "REQUEST_TOO_LARGE", too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _reject(send, 413, "REQUEST_TOO_LARGE", too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not upload and len(body) > MAX_JSON_ITEMS and _most_items(body) > MAX_JSON_ITEMS:
            too_many = f"The request body has more than {MAX_JSON_ITEMS} commas and brackets"
            await _reject(send, 413, "REQUEST_TOO_LARGE", too_many)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        limit = GALLERY_LIMIT.set(self.max_gallery_items)
        try:
            await self.app(scope, replay, send)
        finally:
            GALLERY_LIMIT.reset(limit)
