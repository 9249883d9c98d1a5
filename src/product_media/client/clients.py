"""`EcwidClient` and `AsyncEcwidClient`: the calls of `calls.py` over httpx, with Bearer
auth, timeouts, bounded retries and errors raised as `ApiError` / `ConnectionFailed`."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from product_media import __version__
from product_media.client import calls
from product_media.client.errors import ApiError, ConnectionFailed, UnexpectedAnswer
from product_media.client.models import (
    AsyncImage,
    Created,
    Deleted,
    GalleryVideo,
    MediaUpdate,
    MediaUpdateResult,
    NewProduct,
    Product,
    ProductsPage,
)
from product_media.client.retry import Outcome, Refused, RetryPolicy, Unreachable

T = TypeVar("T")

ECWID_BASE_URL = "https://app.ecwid.com/api/v3"
# A media update fetches and processes its sources before it answers: minutes with videos.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, read=450.0)
# Errors raised before a connection existed: the server cannot have seen the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def connection_settings(
    base_url: str | None, store_id: int | str | None, token: str | None
) -> tuple[str, int, str]:
    """The base URL, store id and token given, else from `ECWID_BASE_URL`, `ECWID_STORE_ID`
    and `ECWID_TOKEN`; the base URL defaults to Ecwid's own."""
    base = (base_url or os.environ.get("ECWID_BASE_URL") or ECWID_BASE_URL).rstrip("/")
    store = store_id if store_id is not None else os.environ.get("ECWID_STORE_ID")
    secret = token or os.environ.get("ECWID_TOKEN")
    if store is None or str(store).strip() == "":
        raise ValueError("no store id: pass store_id or set ECWID_STORE_ID")
    try:
        number = int(str(store).strip())
    except ValueError:
        raise ValueError(f"store id must be a number, not {store!r}") from None
    if number < 1:
        raise ValueError(f"store id must be positive, not {number}")
    if not secret:
        raise ValueError("no token: pass token or set ECWID_TOKEN")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, not {base!r}")
    return base, number, secret


class _Core:
    """What both clients share: settings, the request, and reading the answer."""

    def __init__(
        self,
        base_url: str | None,
        store_id: int | str | None,
        token: str | None,
        retry: RetryPolicy | None,
        random_fraction: Callable[[], float] | None,
    ) -> None:
        self.base_url, self.store_id, token = connection_settings(base_url, store_id, token)
        self.retry = retry or RetryPolicy()
        self._random = random_fraction or random.random
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": f"product-media-client/{__version__}",
        }

    def _store_url(self) -> str:
        return f"{self.base_url}/{self.store_id}"

    def _request(
        self, http: httpx.Client | httpx.AsyncClient, call: calls.Call[T]
    ) -> httpx.Request:
        headers = {"Content-Type": call.content_type} if call.content_type else None
        return http.build_request(
            call.method,
            call.path,
            params=dict(call.params) if call.params else None,
            json=call.json,
            content=call.content,
            headers=headers,
        )

    def _delay(self, call: calls.Call[T], attempt: int, outcome: Outcome) -> float | None:
        return self.retry.delay(attempt, outcome, call.safe_to_repeat, self._random)

    @staticmethod
    def _unreachable(exc: httpx.TransportError) -> Unreachable:
        return Unreachable(sent=not isinstance(exc, _NOT_SENT))

    @staticmethod
    def _read(call: calls.Call[T], response: httpx.Response) -> T:
        if not response.is_success:
            raise _api_error(call, response)
        try:
            return call.parse(response.json())
        except ValueError as exc:  # not JSON, or pydantic's ValidationError
            reason = str(exc).splitlines()[0][:200]
            raise UnexpectedAnswer(
                response.status_code, reason, method=call.method, path=call.path
            ) from exc


def _api_error(call: calls.Call[Any], response: httpx.Response) -> ApiError:
    code: str | None = None
    message = response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        body = None
        if response.text.strip():
            message = response.text.strip()[:500]
    if isinstance(body, dict):
        code = body.get("errorCode") if isinstance(body.get("errorCode"), str) else None
        if isinstance(body.get("errorMessage"), str):
            message = body["errorMessage"]
    return ApiError(response.status_code, code, message, method=call.method, path=call.path)


class EcwidClient(_Core):
    """A blocking client of one store. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str | None = None,
        store_id: int | str | None = None,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        random_fraction: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(base_url, store_id, token, retry, random_fraction)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self._store_url(), headers=self._headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> EcwidClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: calls.Call[T]) -> T:
        """Send `call`, retrying as `retry` allows; its answer as a model, or raise."""
        attempt = 1
        while True:
            try:
                response = self._http.send(self._request(self._http, call))
            except httpx.TransportError as exc:
                delay = self._delay(call, attempt, self._unreachable(exc))
                if delay is None:
                    raise ConnectionFailed(
                        str(exc) or type(exc).__name__, method=call.method, path=call.path
                    ) from exc
            else:
                retry_after = response.headers.get("Retry-After")
                outcome = Refused(response.status_code, retry_after)
                if response.is_success or (delay := self._delay(call, attempt, outcome)) is None:
                    return self._read(call, response)
            self._sleep(delay)
            attempt += 1

    def get_product(self, product_id: int) -> Product:
        return self.send(calls.get_product(product_id))

    def search_products(
        self,
        *,
        sku: str | None = None,
        keyword: str | None = None,
        offset: int = 0,
        limit: int = 100,
        **filters: str | int,
    ) -> ProductsPage:
        return self.send(
            calls.search_products(sku=sku, keyword=keyword, offset=offset, limit=limit, **filters)
        )

    def create_product(self, product: NewProduct) -> Created:
        return self.send(calls.create_product(product))

    def delete_product(self, product_id: int) -> Deleted:
        return self.send(calls.delete_product(product_id))

    def update_media(self, product_id: int, update: MediaUpdate) -> MediaUpdateResult:
        return self.send(calls.update_media(product_id, update))

    def upload_main_image(
        self,
        product_id: int,
        data: bytes | None = None,
        *,
        external_url: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> Created:
        return self.send(
            calls.upload_main_image(
                product_id, data, external_url=external_url, content_type=content_type
            )
        )

    def upload_gallery_image(
        self,
        product_id: int,
        data: bytes | None = None,
        *,
        external_url: str | None = None,
        file_name: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> Created:
        return self.send(
            calls.upload_gallery_image(
                product_id,
                data,
                external_url=external_url,
                file_name=file_name,
                content_type=content_type,
            )
        )

    def upload_main_image_async(self, product_id: int, image: AsyncImage) -> Created:
        return self.send(calls.upload_main_image_async(product_id, image))

    def upload_gallery_image_async(self, product_id: int, image: AsyncImage) -> Created:
        return self.send(calls.upload_gallery_image_async(product_id, image))

    def delete_main_image(self, product_id: int) -> Deleted:
        return self.send(calls.delete_main_image(product_id))

    def delete_gallery_item(self, product_id: int, item_id: int) -> Deleted:
        return self.send(calls.delete_gallery_item(product_id, item_id))

    def delete_gallery_images(self, product_id: int) -> Deleted:
        return self.send(calls.delete_gallery_images(product_id))

    def upload_main_video(self, product_id: int, url: str) -> Created:
        return self.send(calls.upload_main_video(product_id, url))

    def upload_gallery_video(self, product_id: int, url: str) -> Created:
        return self.send(calls.upload_gallery_video(product_id, url))

    def delete_main_video(self, product_id: int) -> Deleted:
        return self.send(calls.delete_main_video(product_id))

    def get_gallery_video(self, product_id: int, video_id: int) -> GalleryVideo:
        return self.send(calls.get_gallery_video(product_id, video_id))

    def upload_gallery_video_cover(
        self,
        product_id: int,
        video_id: int,
        data: bytes | None = None,
        *,
        external_url: str | None = None,
    ) -> Created:
        return self.send(
            calls.upload_gallery_video_cover(product_id, video_id, data, external_url=external_url)
        )


class AsyncEcwidClient(_Core):
    """The same calls for asyncio or trio. Use as an async context manager, or `aclose()`."""

    def __init__(
        self,
        base_url: str | None = None,
        store_id: int | str | None = None,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        random_fraction: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        super().__init__(base_url, store_id, token, retry, random_fraction)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self._store_url(), headers=self._headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncEcwidClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: calls.Call[T]) -> T:
        """Send `call`, retrying as `retry` allows; its answer as a model, or raise."""
        attempt = 1
        while True:
            try:
                response = await self._http.send(self._request(self._http, call))
            except httpx.TransportError as exc:
                delay = self._delay(call, attempt, self._unreachable(exc))
                if delay is None:
                    raise ConnectionFailed(
                        str(exc) or type(exc).__name__, method=call.method, path=call.path
                    ) from exc
            else:
                retry_after = response.headers.get("Retry-After")
                outcome = Refused(response.status_code, retry_after)
                if response.is_success or (delay := self._delay(call, attempt, outcome)) is None:
                    return self._read(call, response)
            await self._sleep(delay)
            attempt += 1

    async def get_product(self, product_id: int) -> Product:
        return await self.send(calls.get_product(product_id))

    async def search_products(
        self,
        *,
        sku: str | None = None,
        keyword: str | None = None,
        offset: int = 0,
        limit: int = 100,
        **filters: str | int,
    ) -> ProductsPage:
        return await self.send(
            calls.search_products(sku=sku, keyword=keyword, offset=offset, limit=limit, **filters)
        )

    async def create_product(self, product: NewProduct) -> Created:
        return await self.send(calls.create_product(product))

    async def delete_product(self, product_id: int) -> Deleted:
        return await self.send(calls.delete_product(product_id))

    async def update_media(self, product_id: int, update: MediaUpdate) -> MediaUpdateResult:
        return await self.send(calls.update_media(product_id, update))

    async def upload_main_image(
        self,
        product_id: int,
        data: bytes | None = None,
        *,
        external_url: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> Created:
        return await self.send(
            calls.upload_main_image(
                product_id, data, external_url=external_url, content_type=content_type
            )
        )

    async def upload_gallery_image(
        self,
        product_id: int,
        data: bytes | None = None,
        *,
        external_url: str | None = None,
        file_name: str | None = None,
        content_type: str = "application/octet-stream",
    ) -> Created:
        return await self.send(
            calls.upload_gallery_image(
                product_id,
                data,
                external_url=external_url,
                file_name=file_name,
                content_type=content_type,
            )
        )

    async def upload_main_image_async(self, product_id: int, image: AsyncImage) -> Created:
        return await self.send(calls.upload_main_image_async(product_id, image))

    async def upload_gallery_image_async(self, product_id: int, image: AsyncImage) -> Created:
        return await self.send(calls.upload_gallery_image_async(product_id, image))

    async def delete_main_image(self, product_id: int) -> Deleted:
        return await self.send(calls.delete_main_image(product_id))

    async def delete_gallery_item(self, product_id: int, item_id: int) -> Deleted:
        return await self.send(calls.delete_gallery_item(product_id, item_id))

    async def delete_gallery_images(self, product_id: int) -> Deleted:
        return await self.send(calls.delete_gallery_images(product_id))

    async def upload_main_video(self, product_id: int, url: str) -> Created:
        return await self.send(calls.upload_main_video(product_id, url))

    async def upload_gallery_video(self, product_id: int, url: str) -> Created:
        return await self.send(calls.upload_gallery_video(product_id, url))

    async def delete_main_video(self, product_id: int) -> Deleted:
        return await self.send(calls.delete_main_video(product_id))

    async def get_gallery_video(self, product_id: int, video_id: int) -> GalleryVideo:
        return await self.send(calls.get_gallery_video(product_id, video_id))

    async def upload_gallery_video_cover(
        self,
        product_id: int,
        video_id: int,
        data: bytes | None = None,
        *,
        external_url: str | None = None,
    ) -> Created:
        return await self.send(
            calls.upload_gallery_video_cover(product_id, video_id, data, external_url=external_url)
        )
