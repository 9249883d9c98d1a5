"""GET of a product answered straight from its rendering, when nothing else is left to decide.

FastAPI's dependency machinery and routing cost several times what the answer itself does once
the product's rendering is kept (service/rendered.py). So this middleware, just inside the
injected faults (the layers between have nothing to decide for such a GET), answers
`GET /api/v3/{storeId}/products/{productId}` itself when the request is the plainest case: a
Bearer token of that store with `read_catalog`, the product kept rendered at the revision the
catalog holds (and enabled, for a public token). The token and the revision are looked up on
every request (one statement), so a revoked token or a write anywhere counts at once: on SQLite
in place (a read by key in a local file costs less than a hop to a worker thread, and waits for
no writer), on PostgreSQL in a worker thread. The request is counted against the token's rate
limit as the route counts it. Any other request goes on to the route, untouched and uncounted,
which decides it from scratch: the answers are the route's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from anyio import CapacityLimiter
from anyio.to_thread import run_sync
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from product_media.api.auth import count_request, known
from product_media.api.errors import ApiError, error_response
from product_media.api.ids import MAX_ID
from product_media.api.products import url_maker
from product_media.api.state import AppState
from product_media.domain.access import READ_CATALOG, token_hash

ROUTE = "/api/v3/{storeId}/products/{productId}"


@dataclass(frozen=True)
class _Named:
    path: str


# What the access log and the metrics name a request by (the `path` of scope["route"]); the
# route object itself stays with the router, which FastAPI does not make easy to look into.
_NAMED = _Named(ROUTE)
# Ids as the route takes them: plain decimal, no sign or leading zero.
_PATH = re.compile(r"/api/v3/([1-9][0-9]{0,18})/products/([1-9][0-9]{0,18})")
# Worker threads for the lookups: a few keep every core busy with lookups that take tens of
# microseconds; more would only hand the interpreter lock around and churn pool connections.
_LOOKUP_THREADS = 4


class ProductReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._threads: CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self._answer(scope) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = _NAMED
        await answer(scope, receive, send)

    async def _answer(self, scope: Scope) -> Response | None:
        if scope["method"] != "GET":
            return None
        path = _PATH.fullmatch(scope["path"])
        if path is None:
            return None
        store_id, product_id = int(path[1]), int(path[2])
        if store_id > MAX_ID or product_id > MAX_ID:
            return None
        request = Request(scope)
        authorization = request.headers.get("Authorization")
        scheme, token = get_authorization_scheme_param(authorization)
        if scheme.lower() != "bearer" or not token:
            return None
        state: AppState = scope["app"].state.product_media
        hashed = token_hash(token)
        catalog = state.adapters.catalog
        looked_up = catalog.grant_and_revision_at_once(hashed, store_id, product_id)
        if looked_up is None:
            if self._threads is None:
                self._threads = CapacityLimiter(_LOOKUP_THREADS)
            looked_up = await run_sync(
                catalog.grant_and_revision, hashed, store_id, product_id, limiter=self._threads
            )
        found, revision = looked_up
        if not known(found, hashed) or revision is None:
            return None
        grant = found[1]
        if grant.store_id != store_id or READ_CATALOG not in grant.scopes:
            return None
        url = url_maker(request, state)
        kept = state.rendered.get(product_id, url.prefix, revision)
        if kept is None or (grant.kind == "public" and not kept.enabled):
            return None
        try:
            await count_request(state, hashed)
        except ApiError as refused:
            return error_response(refused.status, refused.code, refused.message, refused.headers)
        return Response(kept.body, media_type="application/json")
