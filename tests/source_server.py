"""A real HTTP server on a loopback address that plays a media source in tests."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

Respond = Callable[["_Handler", threading.Event], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # A response blocked on a client that stopped reading gives up instead of hanging.
    timeout = 5

    def do_GET(self) -> None:
        self.server.source._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of connections, which the
    # client then sends again a second later: a real web server queues them.
    request_queue_size = 128

    def __init__(self, source: SourceServer, host: str, port: int = 0) -> None:
        self.source = source
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can wait on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response is what half of the tests are about.
        pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class SourceServer:
    """A threaded HTTP server on `host`, port chosen by the system, serving canned routes.

    Use as a context manager; unknown paths answer 404. `port` asks for a given port, so that
    servers on several addresses can share one.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        latency: float = 0.0,
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._latency = latency
        self._tls = tls
        self._routes: dict[str, Respond] = {}
        self._hits: Counter[str] = Counter()
        self._headers: dict[str, dict[str, str]] = {}
        self._targets: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SourceServer:
        server_class = _Server6 if ":" in self._host else _Server
        self._server = server_class(self, self._host, self._requested_port)
        if self._tls is not None:
            # The handshake then happens in the handler's thread, not in the accepting one.
            self._server.socket = self._tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_port

    def url(self, path: str, host: str | None = None) -> str:
        """The URL of `path`, naming the server by `host` (default: its address)."""
        host = host or (f"[{self._host}]" if ":" in self._host else self._host)
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{host}:{self.port}/{path.lstrip('/')}"

    def hits(self, path: str) -> int:
        """How many requests arrived for `path`."""
        with self._lock:
            return self._hits[_normal(path)]

    def targets(self, path: str) -> list[str]:
        """The request targets (path and query string) of every request for `path`."""
        with self._lock:
            return list(self._targets.get(_normal(path), ()))

    def last_headers(self, path: str) -> dict[str, str]:
        """The request headers of the latest request for `path`."""
        with self._lock:
            return self._headers[_normal(path)]

    def add(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_length: int | None = None,
        not_modified_for: str | None = None,
    ) -> str:
        """Serve `body`; `content_length` overrides the declared length to tell a lie. A request
        whose If-None-Match is `not_modified_for` gets a 304 with `headers` and no body."""
        length = len(body) if content_length is None else content_length

        def respond(handler: _Handler, stop: threading.Event) -> None:
            if not_modified_for is not None and (
                handler.headers.get("If-None-Match") == not_modified_for
            ):
                _start(handler, 304, headers or {})
                return
            _start(handler, status, {**(headers or {}), "Content-Length": str(length)})
            handler.wfile.write(body)

        return self._route(path, respond)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(path, status=status, headers={"Location": location})

    def drip(self, path: str, body: bytes, interval: float) -> str:
        """Serve `body` one byte every `interval` seconds."""

        def respond(handler: _Handler, stop: threading.Event) -> None:
            _start(handler, 200, {"Content-Length": str(len(body))})
            for i in range(len(body)):
                if stop.wait(interval):
                    return
                handler.wfile.write(body[i : i + 1])
                handler.wfile.flush()

        return self._route(path, respond)

    def endless(self, path: str, chunk: bytes = b"\0" * 65536) -> str:
        """Serve `chunk` over and over, with no declared length, until the client leaves."""

        def respond(handler: _Handler, stop: threading.Event) -> None:
            _start(handler, 200, {})
            while not stop.is_set():
                handler.wfile.write(chunk)

        return self._route(path, respond)

    def raw(self, path: str, response: bytes, interval: float = 0.0) -> str:
        """Send `response` as the whole reply, status line and headers included, as is.

        With `interval`, one byte every `interval` seconds, headers too.
        """

        def respond(handler: _Handler, stop: threading.Event) -> None:
            if not interval:
                handler.wfile.write(response)
                return
            for i in range(len(response)):
                if stop.wait(interval):
                    return
                handler.wfile.write(response[i : i + 1])
                handler.wfile.flush()

        return self._route(path, respond)

    def stall(self, path: str, seconds: float = 30.0) -> str:
        """Accept the request and send nothing for `seconds`, then hang up."""

        def respond(handler: _Handler, stop: threading.Event) -> None:
            stop.wait(seconds)

        return self._route(path, respond)

    def _route(self, path: str, respond: Respond) -> str:
        with self._lock:
            self._routes[_normal(path)] = respond
        return self.url(path)

    def _serve(self, handler: _Handler) -> None:
        path = _normal(urlsplit(handler.path).path)
        with self._lock:
            self._hits[path] += 1
            self._headers[path] = dict(handler.headers.items())
            self._targets.setdefault(path, []).append(handler.path)
            respond = self._routes.get(path, _not_found)
        if self._latency and self._stop.wait(self._latency):
            return
        with contextlib.suppress(OSError):
            respond(handler, self._stop)


def _normal(path: str) -> str:
    return "/" + path.lstrip("/")


def _start(handler: _Handler, status: int, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Connection", "close")
    handler.end_headers()


def _not_found(handler: _Handler, stop: threading.Event) -> None:
    _start(handler, 404, {"Content-Length": "9"})
    handler.wfile.write(b"not found")
