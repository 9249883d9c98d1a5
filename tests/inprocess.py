"""The service in the test process: the real app on real adapters, reached over its ASGI
interface instead of a socket, with stores and tokens made through the catalog.

HTTP clients made here use `ROUTER`, a transport that sends requests for an in-process
service's URL to its app and everything else over the network, so a test can fetch the media
URLs a product shows the way a browser would, whichever kind of service made them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from product_media.api.app import create_app
from product_media.api.state import AppState
from product_media.domain.access import (
    CATALOG_SCOPES,
    PUBLIC_SCOPES,
    new_token,
    parse_scopes,
    token_hash,
    token_prefix,
)
from product_media.settings import Settings
from tests.service import NOWHERE, free_port


class _AppTransport(httpx.BaseTransport):
    """Runs each request through the app on the portal's event loop."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def send() -> tuple[int, list[tuple[str, str]], bytes]:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._asgi.handle_async_request(inner)
            body = await response.aread()
            return response.status_code, response.headers.multi_items(), body

        status, headers, body = self._portal.call(send)
        return httpx.Response(status, headers=headers, content=body, request=request)


class Router(httpx.BaseTransport):
    """Requests to a registered origin go to its in-process app; the rest to the network."""

    def __init__(self) -> None:
        self._apps: dict[str, httpx.BaseTransport] = {}
        self._network = httpx.HTTPTransport()

    def register(self, origin: str, transport: httpx.BaseTransport) -> None:
        self._apps[origin] = transport

    def unregister(self, origin: str) -> None:
        self._apps.pop(origin, None)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        app = self._apps.get(origin)
        if app is None:
            return self._network.handle_request(request)
        return app.handle_request(request)


ROUTER = Router()


@dataclass(frozen=True)
class Backend:
    """Where a service keeps its catalog and blobs: the embedded default, or a database URL
    and a bucket."""

    name: str
    database_url: str | None = None
    blob_url: str | None = None
    s3_endpoint_url: str | None = None

    def settings(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if self.database_url is not None:
            values["database_url"] = self.database_url
        if self.blob_url is not None:
            values["blob_url"] = self.blob_url
            values["s3_endpoint_url"] = self.s3_endpoint_url
        return values


EMBEDDED = Backend("sqlite+folder")


class InProcessService:
    """The app on `backend`, allowed to fetch from 127.0.0.1, rate limit off and the providers'
    oEmbed endpoints on a loopback port nothing listens on, by default.

    Same surface as tests.service.Service: `url`, `client(token)`, `new_store()`."""

    def __init__(self, data: Path, backend: Backend = EMBEDDED, **settings: Any) -> None:
        self.data = data
        self.backend = backend
        values: dict[str, Any] = {
            "data": data,
            "allow_source_networks": "127.0.0.1/32",
            "rate_limit_per_minute": 0,
            "youtube_oembed_url": NOWHERE,
            "vimeo_oembed_url": NOWHERE,
            **backend.settings(),
            **settings,
        }
        self.settings = Settings(**values)
        # A port nobody listens on: requests to it never leave the process.
        self.url = f"http://127.0.0.1:{free_port()}"
        self._stack = contextlib.ExitStack()
        self.app: FastAPI | None = None

    def start(self) -> InProcessService:
        self.data.mkdir(parents=True, exist_ok=True)
        app = create_app(self.settings)
        portal = self._stack.enter_context(start_blocking_portal())
        self._stack.enter_context(
            portal.wrap_async_context_manager(app.router.lifespan_context(app))
        )
        ROUTER.register(self.url, _AppTransport(app, portal))
        self._stack.callback(ROUTER.unregister, self.url)
        self.app = app
        return self

    def stop(self) -> None:
        self._stack.close()
        self.app = None

    @property
    def state(self) -> AppState:
        assert self.app is not None, "the service is not running"
        state: AppState = self.app.state.product_media
        return state

    def new_store(self, scopes: str | None = None, public: bool = False) -> tuple[int, str]:
        store_id = self.state.adapters.catalog.create_store("Test store")  # type: ignore[attr-defined]
        return store_id, self.new_token(store_id, scopes=scopes, public=public)

    def new_token(self, store_id: int, scopes: str | None = None, public: bool = False) -> str:
        chosen = frozenset(PUBLIC_SCOPES if public else CATALOG_SCOPES)
        if scopes is not None and not public:
            chosen = parse_scopes(scopes)
        token = new_token("public" if public else "secret")
        self.state.adapters.catalog.add_token(  # type: ignore[attr-defined]
            store_id,
            token_hash(token),
            "public" if public else "secret",
            chosen,
            prefix=token_prefix(token),
        )
        return token

    def client(self, token: str | None, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=ROUTER)


@contextlib.contextmanager
def running(service: InProcessService) -> Iterator[InProcessService]:
    service.start()
    try:
        yield service
    finally:
        service.stop()
