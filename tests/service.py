"""Runs the real service as a subprocess, the way a user runs it, for HTTP tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "product_media"]
# No test reaches YouTube or Vimeo: unless a test names a stand-in, their oEmbed endpoints are a
# loopback port nothing listens on.
NOWHERE = "http://127.0.0.1:9/oembed"
NO_PROVIDERS = {
    "PRODUCT_MEDIA_YOUTUBE_OEMBED_URL": NOWHERE,
    "PRODUCT_MEDIA_VIMEO_OEMBED_URL": NOWHERE,
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def cli(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `product-media <args> --data DATA` and return what it printed."""
    return subprocess.run(
        [*CLI, *args, "--data", str(data)],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


class Service:
    """`product-media serve` on a free loopback port, with its own data folder."""

    def __init__(self, data: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.args = args
        self.env = {**os.environ, **NO_PROVIDERS, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data / "server.log"

    def start(self) -> Service:
        self.data.mkdir(parents=True, exist_ok=True)
        command = [*CLI, "serve", "--data", str(self.data), "--port", str(self.port), *self.args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                httpx.get(f"{self.url}/media/none", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def new_store(self, scopes: str | None = None, public: bool = False) -> tuple[int, str]:
        store_id = int(cli(self.data, "stores", "create", "--name", "Test store").stdout)
        return store_id, self.new_token(store_id, scopes=scopes, public=public)

    def new_token(self, store_id: int, scopes: str | None = None, public: bool = False) -> str:
        args = ["tokens", "create", "--store", str(store_id)]
        if scopes is not None:
            args += ["--scopes", scopes]
        if public:
            args.append("--public")
        return cli(self.data, *args).stdout.strip()

    def client(self, token: str | None, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def loopback_service(data: Path) -> Service:
    """A service allowed to fetch from 127.0.0.1 (where test sources live), rate limit off."""
    return Service(
        data,
        "--allow-source-network",
        "127.0.0.1/32",
        env={"PRODUCT_MEDIA_RATE_LIMIT_PER_MINUTE": "0"},
    )
