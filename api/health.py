"""The ledger's head as ``/healthz`` reports it, read where overload cannot starve it.

``/healthz`` used to run on a worker thread: under a burst of writes it waited behind
them for minutes, and a health check that does not answer is read as a dead node. Now
the route runs on the event loop, and the head is read on a thread of its own (a
limiter of one token, not the worker threads requests wait for), at most once per
``fresh_seconds``: checks in between are answered from that reading, so a flood of
health checks costs one ledger call per interval. A ledger that does not answer within
``timeout_seconds`` makes the check answer 503 instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.to_thread

from chain.errors import LedgerError
from chain.ledger import Ledger

FRESH_SECONDS = 0.5
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Head:
    chain_id: int
    number: int
    timestamp: int
    read_at: float  # on the probe's clock


class LedgerHead:
    """The newest ledger head read for ``/healthz`` (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        fresh_seconds: float = FRESH_SECONDS,
        timeout_seconds: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._fresh_seconds = fresh_seconds
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._last: Head | None = None
        self._limiter = anyio.CapacityLimiter(1)

    async def read(self) -> Head:
        """A head read less than ``fresh_seconds`` ago, or read now; ``LedgerError`` when
        the ledger fails or does not answer in time."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        with anyio.move_on_after(self._timeout_seconds):
            return await anyio.to_thread.run_sync(
                self._read_now, limiter=self._limiter, abandon_on_cancel=True
            )
        raise LedgerError(
            f"the ledger did not give its head within {self._timeout_seconds:g} s",
            details={"timeout_seconds": self._timeout_seconds},
        )

    def _fresh(self) -> Head | None:
        last = self._last
        if last is not None and self._clock() - last.read_at < self._fresh_seconds:
            return last
        return None

    def _read_now(self) -> Head:
        """On the probe's thread, one at a time: a check that waited for it may find the
        reading the one before it made."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        block = self._ledger.get_block("latest")
        chain_id, number, timestamp = self._ledger.chain_id, block["number"], block["timestamp"]
        self._last = head = Head(chain_id, int(number), int(timestamp), self._clock())
        return head
