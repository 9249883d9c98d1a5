"""Downloads media from URLs chosen by strangers without letting them reach internal hosts.

Every hop is resolved once, every answer is checked against the address policy, and the
connection goes to the checked address itself, so a second DNS answer cannot differ from
the one that was checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import anyio
import httpcore
import httpx

from product_media.domain.source_validators import Validators
from product_media.ingest.address_policy import AddressPolicy, IPAddress
from product_media.ingest.receive_turns import ReceiveTurns

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A refusal names the setting that lifts it.
_ALLOW_HINT = "allow with PRODUCT_MEDIA_ALLOW_SOURCE_NETWORKS"
# A download goes to its file in writes of about this size, each in a worker thread.
_WRITE_BYTES = 1024 * 1024
# What a download's `check_head` sees of the body before the rest is read.
HEAD_BYTES = 64
# httpcore asks for 64 KiB a read, each read a turn of the event loop; a near source has more
# than that waiting, and reading what there is cut the CPU of receiving bodies by a third.
# A read still returns only what the socket holds, so no more is buffered than before.
httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = 1024 * 1024

R = TypeVar("R")


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    connect_timeout: float
    total_timeout: float
    max_redirects: int = 5


class SourceFaults(Protocol):
    """Faults injected into fetches (the emulator's): asked before each request to a host."""

    async def before_fetch(self, host: str) -> int | None:
        """Wait as a fault says; the status the source is to seem to answer, or None."""
        ...


class FetchError(Exception):
    """A source could not be fetched; the message is a short reason without the URL."""


class TooLarge(FetchError):
    """The source declares or sends more bytes than the limit."""


@dataclass(frozen=True)
class Fetched:
    """A body; `url` is where it came from after redirects, `validators` what the source said
    would let a later fetch of `url` be conditional (None: nothing, or a redirect)."""

    url: str
    content: bytes
    validators: Validators | None = None


@dataclass(frozen=True)
class Downloaded:
    """A body streamed to a file: its size, SHA-256 (hex) and first HEAD_BYTES bytes."""

    url: str
    size: int
    sha256: str
    head: bytes


@dataclass(frozen=True)
class _Hop:
    """One request of a fetch: the host as the source names it, and what to ask for."""

    scheme: str
    host: str
    port: int
    explicit_port: bool
    target: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.explicit_port and self.port != _DEFAULT_PORTS[self.scheme]:
            return f"{host}:{self.port}"
        return host

    def url_to(self, address: IPAddress) -> str:
        literal = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{literal}:{self.port}{self.target}"


def _parse(url: str, *, not_http: str) -> _Hop:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("invalid URL") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise FetchError(not_http)
    if not parts.hostname:
        raise FetchError("URL has no host")
    host = parts.hostname
    if ":" not in host:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise FetchError("invalid host name") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port_or_default = _DEFAULT_PORTS[parts.scheme] if port is None else port
    return _Hop(parts.scheme, host, port_or_default, port is not None, target)


class Fetcher:
    """Fetches http(s) URLs, refusing any hop whose host resolves to a refused address."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        user_agent: str = "product-media/0.1",
        verify: ssl.SSLContext | None = None,
        faults: SourceFaults | None = None,
    ) -> None:
        """`verify` replaces the default trust store (certifi) for https sources; `faults`
        may delay a request or answer it in the source's place."""
        self._policy = policy
        self._faults = faults
        self._turns = ReceiveTurns()
        self._headers = {"User-Agent": user_agent, "Accept-Encoding": "identity"}
        # A transport rather than a client: a client parses every Location header with its own
        # URL parser, stricter than the one _parse uses, even when not following redirects, and
        # fails the whole response on a host such as "0177.0.0.1" before the policy can say
        # why that host is refused. Without a client no cookie is kept either, so one source
        # never sees cookies another source set.
        self._transport = httpx.AsyncHTTPTransport(
            verify=verify if verify is not None else True,
            # A transport uses no proxy (which would connect on our behalf to a host we never
            # checked); nor should it take trust anchors from the environment.
            trust_env=False,
            # Connections are pooled by IP address, so a reused TLS connection verified for
            # one name could otherwise serve a request for another name on the same address.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def fetch(self, url: str, limits: FetchLimits) -> Fetched:
        """The body of `url` after redirects; any failure is a FetchError."""

        async def read(final_url: str, response: httpx.Response) -> Fetched:
            body = await _read_body(response, limits.max_bytes, self._turns)
            validators = _validators(response) if final_url == url else None
            return Fetched(final_url, body, validators)

        return await self._fetch(url, limits, read)

    async def unchanged(self, url: str, limits: FetchLimits, validators: Validators) -> bool:
        """Whether `url` answers 304 Not Modified to a request conditional on `validators`.
        Any other answer reads no body and is False, as is any failure: the caller then
        fetches it anew."""

        async def read(final_url: str, response: httpx.Response) -> bool:
            return final_url == url and response.status_code == 304

        try:
            return await self._fetch(url, limits, read, conditional=_conditions(validators))
        except FetchError:
            return False

    async def download(
        self,
        url: str,
        limits: FetchLimits,
        target: Path,
        *,
        check_head: Callable[[bytes], None] | None = None,
    ) -> Downloaded:
        """Stream the body of `url` into the file `target`, never holding it whole in memory,
        and hash it on the way. `check_head` sees its first HEAD_BYTES bytes (fewer if that is
        all) before the rest is read, and may raise to stop the download; any other failure is
        a FetchError. On failure the file holds a part of the body."""

        async def read(final_url: str, response: httpx.Response) -> Downloaded:
            file = await anyio.to_thread.run_sync(target.open, "wb")
            try:
                return await _write_body(response, limits.max_bytes, file, check_head, final_url)
            finally:
                # Whatever is left to flush is a small part of the last write.
                file.close()

        return await self._fetch(url, limits, read)

    async def _fetch(
        self,
        url: str,
        limits: FetchLimits,
        read: Callable[[str, httpx.Response], Awaitable[R]],
        *,
        conditional: dict[str, str] | None = None,
    ) -> R:
        """`read(final URL, response)` of the answer `url` leads to after redirects.
        `conditional` headers go with the request for `url` itself, not with redirects."""
        try:
            async with asyncio.timeout(limits.total_timeout):
                return await self._follow(url, limits, read, conditional or {})
        except TimeoutError:
            raise FetchError(f"timed out after {limits.total_timeout:g} s") from None
        except httpx.RemoteProtocolError:
            raise FetchError("broken HTTP response from source") from None
        except httpx.HTTPError:
            raise FetchError("connection to source failed") from None
        except httpx.InvalidURL:
            raise FetchError("invalid URL") from None

    async def _follow(
        self,
        url: str,
        limits: FetchLimits,
        read: Callable[[str, httpx.Response], Awaitable[R]],
        conditional: dict[str, str],
    ) -> R:
        hop = _parse(url, not_http="not an http(s) URL")
        headers = conditional
        for _ in range(limits.max_redirects + 1):
            if self._faults is not None:
                # Before the host is resolved, so that a fault stands in for any source.
                status = await self._faults.before_fetch(hop.host)
                if status is not None:
                    raise _status_failure(status)
            response = await self._open(hop, await self._resolve(hop), limits, headers)
            headers = {}
            try:
                if response.status_code not in _REDIRECT_STATUSES:
                    return await read(url, response)
                location = response.headers.get("location")
            finally:
                await response.aclose()
            if not location:
                raise FetchError(f"HTTP {response.status_code} redirect without a Location")
            url = urljoin(url, location)
            hop = _parse(url, not_http="redirect to a non-http(s) URL")
        raise FetchError(f"too many redirects (more than {limits.max_redirects})")

    async def _resolve(self, hop: _Hop) -> list[IPAddress]:
        """Every address the host resolves to, refusing the hop if any one is refused."""
        # The resolver may skip the hosts file for an absolute name such as "localhost.",
        # and the name without its root dot is the same host.
        name = hop.host.removesuffix(".") if ":" not in hop.host else hop.host
        try:
            answers = await asyncio.get_running_loop().getaddrinfo(
                name, hop.port, type=socket.SOCK_STREAM
            )
        except (OSError, ValueError):
            raise FetchError("could not resolve host") from None
        addresses = list(
            dict.fromkeys(
                ipaddress.ip_address(sockaddr[0])
                for family, _, _, _, sockaddr in answers
                if family in (socket.AF_INET, socket.AF_INET6) and isinstance(sockaddr[0], str)
            )
        )
        if not addresses:
            raise FetchError("could not resolve host")
        for address in addresses:
            reason = self._policy.refusal(address)
            if reason is not None:
                raise FetchError(_refusal(hop.host, reason))
        return addresses

    async def _open(
        self, hop: _Hop, addresses: list[IPAddress], limits: FetchLimits, headers: dict[str, str]
    ) -> httpx.Response:
        """The response headers from the first checked address that accepts a connection."""
        extensions: dict[str, object] = {
            "timeout": httpx.Timeout(None, connect=limits.connect_timeout).as_dict()
        }
        if hop.scheme == "https":
            extensions["sni_hostname"] = hop.host
        for address in addresses:
            request = httpx.Request(
                "GET",
                hop.url_to(address),
                headers={**self._headers, **headers, "Host": hop.host_header},
                extensions=extensions,
            )
            try:
                response = await self._transport.handle_async_request(request)
                response.request = request
                return response
            except httpx.ConnectError as exc:
                if (reason := _tls_failure(exc)) is not None:
                    raise FetchError(reason) from None
            except httpx.ConnectTimeout:
                pass
        raise FetchError("could not connect")


def _refusal(host: str, reason: str) -> str:
    """What a refused host is told. An address the URL spells out may be named; what a name
    resolves to is not, or anyone with a token could map internal names to addresses."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"host resolves to a refused network; {_ALLOW_HINT}"
    return f"{reason}; {_ALLOW_HINT}"


def _tls_failure(exc: BaseException) -> str | None:
    """Why TLS failed, when that is what ended a connection attempt."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not valid: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        cause = cause.__cause__ or cause.__context__
    return None


def _status_failure(status: int) -> FetchError:
    """What a source that answers `status` (not a success) fails with."""
    return FetchError(f"HTTP {status} from source")


# Validators longer than this are not kept: a header is not a place to store data.
_MAX_VALIDATOR = 256


def _validators(response: httpx.Response) -> Validators | None:
    """What a response offers to make the next request for it conditional, if anything."""
    etag = response.headers.get("etag")
    modified = response.headers.get("last-modified")
    etag = etag if etag and len(etag) <= _MAX_VALIDATOR else None
    modified = modified if modified and len(modified) <= _MAX_VALIDATOR else None
    if etag is None and modified is None:
        return None
    return Validators(etag, modified)


def _conditions(validators: Validators) -> dict[str, str]:
    """The request headers asking for the body only if it differs from what `validators`
    describe. With an ETag the source must ignore If-Modified-Since (RFC 9110, 13.1.3)."""
    headers: dict[str, str] = {}
    if validators.etag is not None:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified is not None:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    """Refuse what the status and headers tell already, before any of the body is read."""
    if not response.is_success:
        raise _status_failure(response.status_code)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Decompressing would let a small download expand past max_bytes.
        raise FetchError(f"unsupported Content-Encoding {encoding[:40]}")
    declared = response.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > max_bytes:
        raise TooLarge(f"larger than {max_bytes} bytes")


async def _read_body(response: httpx.Response, max_bytes: int, turns: ReceiveTurns) -> bytes:
    _check_response(response, max_bytes)
    # Joined once at the end: growing one buffer copies it over and over (a bytearray grows
    # by an eighth at a time), which showed in profiles of the event loop.
    chunks: list[bytes] = []
    size = 0
    stream = response.aiter_raw()
    async with turns.reading() as reading:
        while True:
            await reading.turn()
            started = anyio.current_time()
            chunk = await anext(stream, b"")
            reading.received(anyio.current_time() - started)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"larger than {max_bytes} bytes")
    if not size:
        raise FetchError("empty response body")
    return b"".join(chunks)


async def _write_body(
    response: httpx.Response,
    max_bytes: int,
    file: BinaryIO,
    check_head: Callable[[bytes], None] | None,
    url: str,
) -> Downloaded:
    """Stream the body into `file` in worker threads, hashing it there too, so neither the
    whole body nor the hashing of it ever sits on the event loop."""
    _check_response(response, max_bytes)
    digest = hashlib.sha256()
    pending = bytearray()
    head = b""
    size = 0

    def write(data: bytes) -> None:
        digest.update(data)
        file.write(data)

    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"larger than {max_bytes} bytes")
        pending += chunk
        if not head and len(pending) >= HEAD_BYTES:
            head = bytes(pending[:HEAD_BYTES])
            if check_head is not None:
                check_head(head)
        if len(pending) >= _WRITE_BYTES:
            data = bytes(pending)
            pending.clear()
            await anyio.to_thread.run_sync(write, data)
    if not size:
        raise FetchError("empty response body")
    if not head:
        head = bytes(pending)
        if check_head is not None:
            check_head(head)
    await anyio.to_thread.run_sync(write, bytes(pending))
    return Downloaded(url, size, digest.hexdigest(), head)
