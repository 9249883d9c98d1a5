"""API paths with a trailing slash, answered as without it (DESIGN section 1)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_API = "/api/"


class TrailingSlash:
    """Strips one trailing slash from a path under /api/ before routing.

    Ecwid's older paths end in a slash; answering them directly spares the client a redirect,
    and the server from building a Location out of the client's Host header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(_API) and path.endswith("/") and len(path) > len(_API):
                # In place: the routing result lands in this same scope, where the access log
                # and the metrics read the route.
                scope["path"] = path[:-1]
                raw_path = scope.get("raw_path")
                if isinstance(raw_path, bytes) and raw_path.endswith(b"/"):
                    scope["raw_path"] = raw_path[:-1]
        await self.app(scope, receive, send)
