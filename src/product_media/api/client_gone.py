"""Work for a request that stops when its client disconnects."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import anyio
from starlette.types import Receive

T = TypeVar("T")


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None if the client disconnects first, which cancels `work`.

    Work for a client that has gone stops rather than finishes: nobody will read the answer,
    a client that still wants the update sends it again, and stopping at once gives the
    store's share of the fetching back to its other requests. Stopped before its commit, an
    update changes nothing; once committing, it completes (service.media).
    """
    result: list[T] = []
    failure: list[Exception] = []

    async def watch(scope: anyio.CancelScope) -> None:
        # The body has been read, so the next message is the disconnect (the server sends it
        # when the connection closes, or once the response has gone).
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch, tasks.cancel_scope)
        try:
            result.append(await work)
        except Exception as exc:
            # Raised below: out of the task group it keeps its type for the error handlers,
            # where the group would wrap it.
            failure.append(exc)
        tasks.cancel_scope.cancel()
    if failure:
        raise failure[0]
    return result[0] if result else None
