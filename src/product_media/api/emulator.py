"""The emulator's own routes (DESIGN section 9): reset to the seed, inject faults, read the
request log. They need the admin token, and do not exist (404) while none is set; they are
left out of /openapi.json, which describes the Ecwid-compatible API alone."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from product_media.api.errors import ApiError
from product_media.api.request_log import RequestLog
from product_media.api.state import AppState, app_state
from product_media.domain.faults import API_PREFIX, Fault, normal_host, under
from product_media.service.faults import PostedFault
from product_media.service.seed import reset

# The methods of the API's routes; a fault for another would never fire.
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def _admin(request: Request, state: Annotated[AppState, Depends(app_state)]) -> AppState:
    expected = state.settings.admin_token
    if expected is None:
        raise StarletteHTTPException(404, "Not Found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), expected.encode("utf-8")
    ):
        raise ApiError(
            403,
            "INVALID_API_TOKEN",
            "Send the admin token (PRODUCT_MEDIA_ADMIN_TOKEN) as Authorization: Bearer",
        )
    return state


Admin = Annotated[AppState, Depends(_admin)]

router = APIRouter(prefix="/_emulator", include_in_schema=False)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultMatchIn(_Strict):
    method: StrictStr | None = Field(None, max_length=16)
    path: StrictStr | None = Field(None, min_length=1, max_length=2048)
    sourceHost: StrictStr | None = Field(None, min_length=1, max_length=253)


class FaultIn(_Strict):
    match: FaultMatchIn
    status: StrictInt | None = Field(None, ge=400, le=599)
    delayMs: StrictInt = Field(0, ge=0, le=600_000)
    # StrictFloat takes JSON integers too (0 and 1).
    probability: StrictFloat = Field(1.0, ge=0, le=1)
    times: StrictInt | None = Field(None, ge=1)


def _bad(message: str) -> ApiError:
    return ApiError(400, "WRONG_PARAMETER", message)


def _fault(body: FaultIn) -> Fault:
    """The fault a body asks for, or a 400 saying why it could never do anything."""
    match = body.match
    method = match.method.upper() if match.method is not None else None
    if method is not None and method not in _METHODS:
        raise _bad(f"match.method: one of {', '.join(_METHODS)}")
    if match.path is not None and (not match.path.startswith("/") or "?" in match.path):
        raise _bad("match.path: a path such as /api/v3/7/products, without a query string")
    if match.path is not None and not under(match.path, API_PREFIX):
        raise _bad(f"match.path: faults apply to {API_PREFIX} calls only")
    host = None
    if match.sourceHost is not None:
        if method is not None or match.path is not None:
            raise _bad("match.sourceHost matches source fetches only: no method or path with it")
        host = normal_host(match.sourceHost)
        if not host or any(char in host for char in "/?#@[] ") or host.count(":") == 1:
            raise _bad("match.sourceHost: a host name or address alone (no scheme, port or path)")
    if body.status is None and body.delayMs == 0:
        raise _bad("a fault needs a status, a delayMs, or both")
    return Fault(
        method=method,
        path=match.path,
        source_host=host,
        status=body.status,
        delay_ms=body.delayMs,
        probability=body.probability,
        times=body.times,
    )


def _posted(posted: PostedFault) -> dict[str, Any]:
    fault = posted.fault
    match = {
        name: value
        for name, value in (
            ("method", fault.method),
            ("path", fault.path),
            ("sourceHost", fault.source_host),
        )
        if value is not None
    }
    out: dict[str, Any] = {
        "id": posted.id,
        "match": match,
        "delayMs": fault.delay_ms,
        "probability": fault.probability,
    }
    if fault.status is not None:
        out["status"] = fault.status
    if fault.times is not None:
        out["times"] = fault.times
    return out


@router.post("/reset")
async def reset_catalog(state: Admin) -> dict[str, str]:
    """Empty the catalog, delete every file, apply the seed again, and let every token call
    afresh: a seeded token comes back with its old value, and must not come back with its
    old request counts."""
    catalog = state.adapters.catalog
    await reset(
        catalog,
        state.storage,
        state.adapters.ingest,
        state.seed,
        time_limit=state.settings.update_timeout,
    )
    await state.adapters.rate_limiter.forget()
    return {"status": "ok"}


@router.post("/faults")
async def add_fault(body: FaultIn, state: Admin) -> dict[str, str]:
    return {"id": state.adapters.faults.add(_fault(body))}


@router.get("/faults")
async def list_faults(state: Admin) -> dict[str, list[dict[str, Any]]]:
    return {"items": [_posted(posted) for posted in state.adapters.faults.items()]}


@router.delete("/faults")
async def delete_faults(state: Admin) -> dict[str, int]:
    return {"deleteCount": state.adapters.faults.clear()}


@router.get("/requests")
async def list_requests(request: Request, _state: Admin) -> dict[str, list[dict[str, Any]]]:
    """The last API calls, newest first."""
    log: RequestLog = request.app.state.request_log
    return {
        "items": [
            {
                "method": call.method,
                "path": call.path,
                "status": call.status,
                "durationMs": call.duration_ms,
                "requestId": call.request_id,
            }
            for call in log.newest_first()
        ]
    }
