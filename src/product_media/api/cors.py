"""Cross-origin requests (DESIGN section 1): a storefront page in a browser calls the API with
a public token, so answers carry `Access-Control-Allow-Origin` for the allowed origins and
preflights allow the headers the API reads."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")
HEADERS = ("Authorization", "Content-Type", "X-Request-Id")
# Beside the headers every browser lets a script read: what a client needs of an answer.
EXPOSED = ("Retry-After", "X-Request-Id")


def install(app: Starlette, origins: Sequence[str]) -> None:
    """Wrap the whole middleware stack of `app` in CORSMiddleware (unless `origins` is empty).

    Outside Starlette's own 500 handler and every other middleware, so that every answer,
    errors included (403, 404, 413, 429, 500), carries the headers: without them a browser
    hides the answer from the page, which then cannot tell a bad token from a network error.
    Call before `observe.install`, which must stay outermost."""
    if not origins:
        return
    build = app.build_middleware_stack

    def build_with_cors() -> ASGIApp:
        return CORSMiddleware(
            build(),
            allow_origins=origins,
            allow_methods=METHODS,
            allow_headers=HEADERS,
            expose_headers=EXPOSED,
        )

    app.build_middleware_stack = build_with_cors  # type: ignore[method-assign]
