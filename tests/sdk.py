"""The client SDK against the in-process service, and the stand-ins its failure tests need."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from product_media.client import AsyncEcwidClient, EcwidClient, RetryPolicy
from tests.inprocess import ROUTER, InProcessService
from tests.media_factory import jpeg
from tests.source_server import SourceServer

# Retries as the client does them by default, without the waiting.
QUICK = RetryPolicy(attempts=4, backoff=0.001, max_backoff=0.01)


class AsyncRouter(httpx.AsyncBaseTransport):
    """The async client's requests through `ROUTER`, whose in-process apps run on their own
    event loop (a worker thread carries each request there)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        inner = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        response = await anyio.to_thread.run_sync(ROUTER.handle_request, inner)
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.read()
        )


class Flaky(httpx.AsyncBaseTransport):
    """A stand-in for a server in trouble: the first `times` requests that `match` get
    `status` (with `headers`) without reaching the service; the rest go through."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        status: int,
        times: int,
        match: Callable[[httpx.Request], bool] = lambda request: True,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.inner = inner
        self.status = status
        self.left = times
        self.match = match
        self.headers = headers or {}
        self.refused: list[str] = []
        self.passed: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        line = f"{request.method} {request.url.path}"
        if self.left > 0 and self.match(request):
            self.left -= 1
            self.refused.append(line)
            body = {"errorMessage": "the stand-in is down", "errorCode": "STAND_IN_DOWN"}
            return httpx.Response(self.status, headers=self.headers, json=body)
        self.passed.append(line)
        return await self.inner.handle_async_request(request)


def sync_client(service: InProcessService, store: tuple[int, str], **options: Any) -> EcwidClient:
    return EcwidClient(
        f"{service.url}/api/v3",
        store[0],
        store[1],
        transport=ROUTER,
        **options,
    )


def async_client(
    service: InProcessService,
    store: tuple[int, str],
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> AsyncEcwidClient:
    return AsyncEcwidClient(
        f"{service.url}/api/v3",
        store[0],
        store[1],
        transport=transport or AsyncRouter(),
        **options,
    )


def image_url(sources: SourceServer, w: int = 60, h: int = 40) -> str:
    """A new JPEG on the source server, at a path of its own."""
    return sources.add(
        f"/sdk/{uuid.uuid4().hex}.jpg", jpeg(w, h), headers={"Content-Type": "image/jpeg"}
    )


def missing_url(sources: SourceServer) -> str:
    return sources.url(f"/sdk/{uuid.uuid4().hex}-missing.jpg")
