"""Injects the emulator's faults into API calls: a matching call waits, then answers the
fault's status instead of running (DESIGN section 9)."""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from product_media.api.errors import error_response
from product_media.service.faults import Faults

# Ecwid's clients read these answers' Retry-After (section 1), so an injected one has it too.
_RETRY_AFTER = {429: {"Retry-After": "1"}, 503: {"Retry-After": "1"}}


class InjectFaults:
    """Pure ASGI middleware, before authentication: a fault hits whatever token is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            faults: Faults = scope["app"].state.product_media.adapters.faults
            fault = faults.take_call(scope["method"], scope["path"])
            if fault is not None:
                await anyio.sleep(fault.delay_ms / 1000)
                if fault.status is not None:
                    answer = error_response(
                        fault.status,
                        "INJECTED_FAULT",
                        "injected fault",
                        _RETRY_AFTER.get(fault.status),
                    )
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)
