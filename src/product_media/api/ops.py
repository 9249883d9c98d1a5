"""What operators and orchestrators call: /healthz, /readyz, /metrics. No token, no rate limit,
and not in /openapi.json, which describes the Ecwid-compatible API alone."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from product_media import metrics

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0


class Readiness(Protocol):
    """Found at `app.state.readiness`: each check returns when its part answers, else raises."""

    def database(self) -> None: ...

    def blobs(self) -> None: ...


class _Probe:
    """Runs the checks in threads, at most one at a time per part: while a hung check still holds
    its thread, the part counts as failing without a new thread piling up at every probe."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._running: set[str] = set()

    async def failing(self, readiness: Readiness) -> list[str]:
        checks = {"database": readiness.database, "blobs": readiness.blobs}
        passed = await asyncio.gather(*(self._passes(name, fn) for name, fn in checks.items()))
        return [name for name, ok in zip(checks, passed, strict=True) if not ok]

    async def _passes(self, name: str, check: Callable[[], None]) -> bool:
        if name in self._running:
            return False
        self._running.add(name)

        def run() -> bool:
            try:
                check()
            except Exception as exc:
                log.warning("readiness: %s is failing: %s: %s", name, type(exc).__name__, exc)
                return False
            finally:
                self._running.discard(name)
            return True

        done = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, run)
        try:
            # Shielded: a timeout must not cancel a check still queued, which would then never
            # run and never clear its mark in _running.
            return await asyncio.wait_for(asyncio.shield(done), self._timeout)
        except TimeoutError:
            log.warning("readiness: %s did not answer within %s s", name, self._timeout)
            return False


def router(check_timeout: float = CHECK_TIMEOUT) -> APIRouter:
    """The operations routes; one router per app (it keeps the checks that are still running)."""
    probe = _Probe(check_timeout)
    ops = APIRouter(include_in_schema=False)

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        failing = await probe.failing(request.app.state.readiness)
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ok"})

    # Sync, so that FastAPI runs it in a thread: with several workers it reads their files.
    @ops.get("/metrics")
    def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return ops
