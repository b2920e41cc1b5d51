"""The operations worker: runs the operations accepted with ``?wait=false`` on the app's
event loop, at most ``workers`` at once, from their kept requests
(``api.idempotency.kept_requests``); at start, resumes those a stopped process left
pending (FireFly's operations model: an accepted operation is durable).

Started and stopped by the app's lifespan (``api.app``). It runs nothing before the
idempotency middleware gives it its ``OperationRunner``, which claims the resumed
operations' keys (a client's retry then waits for the run instead of starting a second)
and runs one operation. Running an operation again is safe: the ledger writer keys each
transaction by the operation's Idempotency-Key in the transaction manager's durable
store, so a run after a restart finds the transaction the first run sent.

Only an API with a ledger writer runs operations: a read replica over the same read
model must not resume the primary's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from api.idempotency.kept_requests import resumable
from api.idempotency.posts import KeptPost
from chain.errors import ScfError

log = logging.getLogger(__name__)

BACKGROUND_WORKERS = 4


class BackgroundUnavailable(ScfError):
    code = "writes_unavailable"
    http_status = 503


class OperationRunner(Protocol):
    def resume(self, operations: list[KeptPost]) -> None:
        """Claim the keys of operations about to be resumed (before any request)."""

    async def run(self, operation_id: str) -> None:
        """Run one operation from its kept request and store its answer."""


class OperationWorker:
    """See the module docstring."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        enabled: bool,
        workers: int = BACKGROUND_WORKERS,
    ) -> None:
        self._sessions = sessions
        self._enabled = enabled
        self._workers = workers
        self._runner: OperationRunner | None = None
        self._queue: asyncio.Queue[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifespans = 0  # the same app can serve on several event loops (tests do)
        self._tasks: list[asyncio.Task[None]] = []
        # on stop, how long the operations under way may take to finish; None: all of
        # them, queued ones too (a restart would resume what is left)
        self.drain_seconds: float | None = None

    def attach(self, runner: OperationRunner) -> None:
        self._runner = runner

    @property
    def running(self) -> bool:
        return self._queue is not None

    async def start(self) -> None:
        """Resume the operations left pending, then run each one submitted. The worker runs
        on the event loop of the first lifespan that starts it."""
        self._lifespans += 1
        if self._lifespans > 1 or not self._enabled or self._runner is None:
            return
        self._loop = asyncio.get_running_loop()
        left = await anyio.to_thread.run_sync(resumable, self._sessions)
        self._runner.resume([post for _, post in left])
        self._queue = asyncio.Queue()
        for operation_id, post in left:
            log.info("resuming operation %s (POST %s) left pending", operation_id, post.path)
            self._queue.put_nowait(operation_id)
        self._tasks = [asyncio.create_task(self._serve(self._queue)) for _ in range(self._workers)]

    def require_running(self) -> None:
        """503 ``writes_unavailable`` unless operations are taken now."""
        if self._queue is None:
            raise BackgroundUnavailable(
                "this API node is not running operations now (starting or stopping); retry"
            )

    def submit(self, operation_id: str) -> None:
        """Run ``operation_id`` (its request is kept) as soon as a worker is free."""
        self.require_running()
        assert self._queue is not None
        assert self._loop is not None
        # thread-safe: a request may be served on another event loop than the worker's
        self._loop.call_soon_threadsafe(self._queue.put_nowait, operation_id)

    async def stop(self) -> None:
        """Stop taking operations; let those under way finish (``drain_seconds``)."""
        self._lifespans -= 1
        if self._lifespans > 0:
            return
        queue, self._queue = self._queue, None
        if queue is None:
            return
        if self.drain_seconds is None:
            await queue.join()
        else:
            with anyio.move_on_after(self.drain_seconds):
                await queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _serve(self, queue: asyncio.Queue[str]) -> None:
        assert self._runner is not None
        while True:
            operation_id = await queue.get()
            try:
                await self._runner.run(operation_id)
            except Exception:
                log.exception("operation %s failed in the background", operation_id)
            finally:
                queue.task_done()
