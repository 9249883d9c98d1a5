"""Every HTTP request gets a request id (kept in the log context and sent back as X-Request-Id),
one access log line and its metrics."""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from functools import cache

from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from product_media import logs, metrics
from product_media.api.request_log import LoggedCall, RequestLog
from product_media.domain.faults import API_PREFIX, under

access_log = logging.getLogger("product_media.access")

_HEADER = b"x-request-id"
_WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Any other method name would be a label value of its own, chosen by the client.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# nginx's status for a request whose client left before it was answered.
CLIENT_CLOSED = 499
# The path is percent-decoded: a %0A in it must not start a forged log line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class _RequestIds:
    """32 hex digits: a random half drawn once per process, then a count. Unique without a
    call for random bytes on every request."""

    def __init__(self) -> None:
        self._start()
        # A forked worker draws its own half, so two processes never hand out the same id.
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._count = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._count):016x}"


_ids = _RequestIds()


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == _HEADER:
            text = value.decode("latin-1")
            return text if _WELL_FORMED_ID.fullmatch(text) else None
    return None


def _route(scope: Scope) -> str:
    """The template of the route that answered; the raw path would make a series per id."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "other"


def _printable(path: str) -> str:
    return _CONTROL.sub(lambda char: f"\\x{ord(char[0]):02x}", path)


class Observe:
    """Pure ASGI middleware; outermost (see `install`), so it sees every answer. API calls
    also go to `requests` (the emulator's request log)."""

    def __init__(self, app: ASGIApp, requests: RequestLog | None = None) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or _ids.next()
        id_header = (_HEADER, rid.encode("ascii"))
        sent_status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal sent_status
            if message["type"] == "http.response.start":
                sent_status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != _HEADER
                ]
                message = {**message, "headers": [*headers, id_header]}
            await send(message)

        token = logs.request_id.set(rid)
        start = time.perf_counter()
        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            failed = True
            raise
        finally:
            status = 500 if failed else (sent_status or CLIENT_CLOSED)
            seconds = time.perf_counter() - start
            _record(scope, status, seconds)
            if self.requests is not None and under(scope["path"], API_PREFIX):
                duration_ms = round(seconds * 1000, 1)
                call = LoggedCall(scope["method"], scope["path"], status, duration_ms, rid)
                self.requests.add(call)
            logs.request_id.reset(token)


@cache
def _series(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    """The labelled metrics of one kind of answer: `labels()` locks and looks up on every
    call. Bounded: routes are templates, methods and statuses few."""
    return (
        metrics.HTTP_REQUESTS.labels(route=route, method=method, status=str(status)),
        metrics.HTTP_REQUEST_SECONDS.labels(route=route, method=method),
    )


def _record(scope: Scope, status: int, seconds: float) -> None:
    method: str = scope["method"]
    label = method if method in _METHODS else "other"
    requests, durations = _series(_route(scope), label, status)
    requests.inc()
    durations.observe(seconds)
    # scope["path"] never holds the query string, where legacy clients put their token.
    path = _printable(scope["path"])
    duration_ms = round(seconds * 1000, 1)
    access_log.info(
        "%s %s %d %.1fms",
        method,
        path,
        status,
        duration_ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms},
    )


def install(app: Starlette, requests: RequestLog | None = None) -> None:
    """Wrap the whole middleware stack of `app` in Observe. `app.add_middleware` would put it
    inside Starlette's ServerErrorMiddleware, whose 500 answers would then lack X-Request-Id."""
    build = app.build_middleware_stack

    def build_observed() -> ASGIApp:
        return Observe(build(), requests)

    app.build_middleware_stack = build_observed  # type: ignore[method-assign]
