"""Bearer tokens, scopes and the per-token rate limit, as FastAPI dependencies."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeGuard

from anyio.to_thread import run_sync
from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from product_media.api.errors import ApiError
from product_media.api.ids import MAX_ID, PLAIN_DECIMAL
from product_media.api.state import AppState, app_state
from product_media.domain.access import Grant, token_hash

StoreId = Annotated[
    int, Path(alias="storeId", gt=0, le=MAX_ID, description="Store id"), PLAIN_DECIMAL
]


# Reads `Authorization: Bearer <token>` and puts the scheme in /openapi.json; the errors stay
# ours (403 INVALID_API_TOKEN, as Ecwid answers), hence auto_error=False.
_BEARER = HTTPBearer(
    scheme_name="bearerAuth",
    description="A store's token: secret_... (its scopes) or public_... (read-only)",
    auto_error=False,
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]

_MISSING = "Access token is missing: send Authorization: Bearer <token>"


# The dependencies here that do no I/O are coroutines: FastAPI runs a plain function in a
# worker thread, a hop that costs more than their work.
async def presented_token(
    credentials: Credentials,
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
) -> str | None:
    """The token a request carries: the Bearer header, else `?token=` where the setting
    ALLOW_QUERY_TOKEN lets older clients send it there (Ecwid stopped reading it in 2025)."""
    if credentials is not None:
        return credentials.credentials
    if state.settings.allow_query_token:
        return request.query_params.get("token") or None
    return None


Token = Annotated[str | None, Depends(presented_token)]


async def hashed_token(token: Token) -> str:
    """The token, hashed as the catalog keeps it: within a store, capacity is shared fairly
    between tokens. (FastAPI reads the token once for this and for the grant.)"""
    return token_hash(token) if token is not None else ""


HashedToken = Annotated[str, Depends(hashed_token)]


def known(found: tuple[str, Grant] | None, hashed: str) -> TypeGuard[tuple[str, Grant]]:
    """Whether the catalog's answer for a token's hash is a grant of that very token."""
    return found is not None and hmac.compare_digest(found[0], hashed)


async def count_request(state: AppState, hashed: str) -> None:
    """Count a request of a known token against its rate limit; raises 429 over it."""
    limiter = state.adapters.rate_limiter
    wait = await limiter.retry_after(hashed)
    if wait is not None:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"Too many requests: at most {limiter.per_minute} a minute per token",
            headers={"Retry-After": str(wait)},
        )


def require(scope: str | None) -> Callable[..., Awaitable[Grant]]:
    """A dependency that admits a token of this store carrying `scope` (any token of the
    store when None)."""

    async def dependency(
        token: Token,
        store_id: StoreId,
        state: Annotated[AppState, Depends(app_state)],
        request: Request,
    ) -> Grant:
        if token is None:
            message = _MISSING
            if "token" in request.query_params:
                message += " (a token in the query string is not accepted)"
            raise ApiError(403, "INVALID_API_TOKEN", message)
        hashed = token_hash(token)
        catalog = state.adapters.catalog
        found = await run_sync(catalog.find_grant, hashed)
        if not known(found, hashed):
            raise ApiError(403, "INVALID_API_TOKEN", "Access token is invalid")
        # Counted before the store check: 404 STORE_NOT_FOUND and 403 tell which store ids
        # exist, and probing them must cost the token as any other request does.
        await count_request(state, hashed)
        grant = found[1]
        if grant.store_id != store_id:
            if not await run_sync(catalog.store_exists, store_id):
                raise ApiError(404, "STORE_NOT_FOUND", f"Store {store_id} is not found")
            raise ApiError(403, "INVALID_API_TOKEN", "Access token is invalid for this store")
        if scope is not None and scope not in grant.scopes:
            raise ApiError(
                403,
                "INSUFFICIENT_APP_SCOPE",
                f"Access token doesn't have the {scope} scope",
            )
        return grant

    return dependency
