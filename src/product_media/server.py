"""Uvicorn's HTTP protocol with a deadline for each request's headers.

Uvicorn has no such deadline: its keep-alive timer starts only once a response is sent, so a
client that opens a connection and sends half a request line holds the connection (and a
file descriptor) forever, and a thousand such clients hold the server.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """Closes a connection whose client takes more than `header_timeout` seconds to send a
    request's headers, from the connection's start or from the first byte of a request.

    The clock never runs while a request is served: the time to send a body, or to wait for
    a slow answer, is not the headers' time.
    """

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None
        self._reading_headers = False

    def _start_header_clock(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(
                self._header_timeout, self._headers_too_slow
            )

    def _stop_header_clock(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._reading_headers = True
        # A request pipelined behind one being served gets its clock once that one is done.
        if self.cycle is None or self.cycle.response_complete:
            self._start_header_clock()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._stop_header_clock()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_headers:
            self._start_header_clock()


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """What uvicorn's `http=` takes, giving every connection `seconds` for its headers.

    A partial rather than a subclass made here: `serve --workers N` sends its configuration
    to the worker processes by pickling it, and pickle finds a class only by its module-level
    name. Uvicorn only calls what it is given, so a partial of the class does as well.
    """
    return cast(
        type[asyncio.Protocol], functools.partial(HeaderTimeoutProtocol, header_timeout=seconds)
    )
