"""moto's S3-compatible server, run as a subprocess on a free loopback port.

It stands in for S3 in tests: the real thing is not reachable from them, and moto speaks the
same HTTP API (path-style addressing, ranges, listings), so the S3 adapter runs unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

# Dummy credentials and region for the clients the tests make: moto checks none of them.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

_START_TIMEOUT = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def fresh_bucket_name() -> str:
    """A bucket name no other test uses."""
    return f"test-{uuid.uuid4().hex}"


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def moto_server(host: str = "127.0.0.1") -> Iterator[str]:
    """Run the server until the block ends; yields its endpoint URL."""
    port = free_port(host)
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not _answers(host, port):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the moto S3 server did not start:\n{output}")
                time.sleep(0.05)
            yield f"http://{host}:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
