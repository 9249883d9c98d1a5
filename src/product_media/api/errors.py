"""Every error leaves as Ecwid does it: an HTTP status and {errorMessage, errorCode}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from product_media.api.schemas import ErrorOut
from product_media.domain.image_edits import UnknownImage
from product_media.domain.media_update import WRONG_PARAMETER, WRONG_URL, InvalidUpdate
from product_media.domain.video_edits import UnknownVideo
from product_media.service.errors import (
    ProductNotFound,
    SkuAlreadyExists,
    StoreNotFound,
    Unusable,
    UpdateInterrupted,
)

log = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "WRONG_PARAMETER",
    403: "INVALID_API_TOKEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
}


_DESCRIPTIONS = {
    400: "WRONG_PARAMETER: malformed JSON, or a parameter or field of the wrong type or range "
    "(or, in a media write, a field it does not know)",
    403: "INVALID_API_TOKEN (no token, an unknown one, or one of another store), "
    "or INSUFFICIENT_APP_SCOPE",
    404: "STORE_NOT_FOUND, PRODUCT_NOT_FOUND, IMAGE_NOT_FOUND, or NOT_FOUND",
    409: "SKU_ALREADY_EXISTS: another product of the store has that SKU",
    413: "REQUEST_TOO_LARGE: the JSON body is over the size limit",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not sent as application/json",
    416: "RANGE_NOT_SATISFIABLE: the Range starts past the end of the file",
    422: "WRONG_URL: a URL that cannot be fetched (the message names the field)",
    429: "RATE_LIMITED: too many requests for this token; retry after Retry-After seconds",
    503: "TRY_AGAIN: the update was interrupted before its commit and changed nothing",
}

# The status of each way a request can be invalid (domain.media_update).
_INVALID_UPDATE_STATUS = {WRONG_URL: 422, WRONG_PARAMETER: 400}


def documented(
    *statuses: int, notes: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses an operation really sends.

    `notes` replaces the usual description of a status where this operation means less by it.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = (notes or {}).get(status, _DESCRIPTIONS[status])
        response: dict[str, Any] = {"model": ErrorOut, "description": description}
        if status in (429, 503):
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before the next request",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[status] = response
    return responses


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"errorMessage": message, "errorCode": code}, status_code=status, headers=headers
    )


def _where(loc: Sequence[int | str]) -> str:
    """A field's place as a client writes it: `galleryMedia[0].imageUrl`."""
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where.lstrip(".")


def _describe(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "Malformed request"
    # An unknown field explains the rest: a misspelt name is also a missing one.
    unknown = [error for error in errors if error.get("type") == "extra_forbidden"]
    first = (unknown or errors)[0]
    loc = tuple(first.get("loc", ()))
    where = _where(loc[1:] if loc[:1] == ("body",) else loc)
    if first.get("type") == "json_invalid":
        return "Malformed JSON in the request body"
    if unknown:
        return f"Unknown field {where}"
    message = str(first.get("msg", "invalid value"))
    return f"{where}: {message}" if where else message


# Refusals of the service and the domain: the status, and the code (None: the error's own).
_REFUSALS: tuple[tuple[type[Exception], int, str | None], ...] = (
    # As Ecwid answers for a video a product does not have: 404.
    (UnknownImage, 404, "IMAGE_NOT_FOUND"),
    (UnknownVideo, 404, "VIDEO_NOT_FOUND"),
    (ProductNotFound, 404, "PRODUCT_NOT_FOUND"),
    (StoreNotFound, 404, "STORE_NOT_FOUND"),
    (SkuAlreadyExists, 409, "SKU_ALREADY_EXISTS"),
    (Unusable, 422, None),
)


def _refusal(status: int, code: str | None) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(_request: Request, exc: Exception) -> Response:
        own = exc.code if isinstance(exc, Unusable) else "ERROR"
        return error_response(status, code or own, str(exc))

    return handler


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(InvalidUpdate)
    async def _invalid_update(_request: Request, exc: InvalidUpdate) -> JSONResponse:
        return error_response(_INVALID_UPDATE_STATUS[exc.code], exc.code, exc.message)

    for error, status, code in _REFUSALS:
        app.add_exception_handler(error, _refusal(status, code))

    @app.exception_handler(UpdateInterrupted)
    async def _interrupted(_request: Request, exc: UpdateInterrupted) -> JSONResponse:
        log.warning("media update interrupted: %s", exc)
        return error_response(
            503,
            "TRY_AGAIN",
            "The update was interrupted before its commit and changed nothing; send it again",
            {"Retry-After": "1"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "WRONG_PARAMETER", _describe(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, "ERROR")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", "Internal error")
