"""What makes an app a read replica (``nodes.runtime.read_replica``): writes are refused before
anything runs, and synchronous routes run on the event loop thread.

``ReadOnlyGate`` answers every method but GET, HEAD and OPTIONS with 503
``writes_unavailable`` naming the primary, before anything runs: the replica never writes
to the shared read model, not even the Idempotency-Key middleware's claim of a key.

FastAPI runs every ``def`` route and dependency in a worker thread (through
``anyio.to_thread.run_sync``). The read replica (``nodes.runtime.read_replica``) serves only
reads: each is a short SQL query, and under load the hop to a worker thread
and back (two thread wake-ups on busy cores) cost more than the read itself and set
its tail latency. ``InlineSyncMiddleware`` marks its requests so that those calls run in
place instead. Other apps in the process are untouched: the mark is a context variable
set only while one of the middleware's requests runs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio.to_thread
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_INLINE: ContextVar[bool] = ContextVar("scf_inline_sync", default=False)
_to_thread = anyio.to_thread.run_sync


async def _run_sync(func: Callable[..., T], *args: Any, **options: Any) -> T:
    if _INLINE.get():
        return func(*args)
    return await _to_thread(func, *args, **options)


class InlineSyncMiddleware:
    """Run the synchronous routes and dependencies of ``app`` on the event loop thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # idempotent, and a no-op outside the requests this middleware marks
        anyio.to_thread.run_sync = _run_sync  # type: ignore[assignment]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _INLINE.set(True)
        try:
            await self.app(scope, receive, send)
        finally:
            _INLINE.reset(token)


class ReadOnlyGate:
    """Refuse writes with the API's error shape, pointing at ``primary_url``."""

    def __init__(self, app: ASGIApp, primary_url: str) -> None:
        self.app = app
        self.primary_url = primary_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        error = {
            "code": "writes_unavailable",
            "message": f"this is the node's read replica: send writes to {self.primary_url}",
            "details": {"primary_url": self.primary_url},
        }
        await JSONResponse({"error": error}, status_code=503)(scope, receive, send)
