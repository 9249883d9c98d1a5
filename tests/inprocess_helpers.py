"""The in-process service behind a real socket, for clients that must speak HTTP over TCP."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from product_media.api.app import create_app
from tests.inprocess import InProcessService


class SocketService(InProcessService):
    """The app served by uvicorn on a loopback port, in a thread of the test process.

    Same surface as InProcessService (settings, `url`, `client`, `new_store`, `state`), but
    `url` names a port that is listened on, so any HTTP client reaches it (schemathesis
    sends its cases with `requests`). Uvicorn runs the app's lifespan on its own event loop,
    as `product-media serve` does; it leaves the process' logging configuration alone."""

    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> SocketService:
        self.data.mkdir(parents=True, exist_ok=True)
        app = create_app(self.settings)
        # Bound here, so the port is ours before the server thread starts.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(15)
                listener.close()
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        self._server, self._thread = server, thread
        self._listener = listener
        self.url = f"http://127.0.0.1:{port}"
        self.app = app
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)
            assert not self._thread.is_alive(), "the server did not stop"
            self._listener.close()
        self._server = self._thread = None
        self.app = None
