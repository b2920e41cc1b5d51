"""Keeps the children of ``scf-node start`` running: the ledger and the read replica.

``check`` (called every second by ``start``) looks whether the child still runs. One that
ended is reported once, with its exit code, and started again: at once the first time
(``first_delay`` after its last start), then, while it keeps ending within
``STABLE_SECONDS`` of starting or keeps failing to start, after twice the last delay, up
to ``max_delay``. A child that starts and stays up resets the delay. ``status`` is what
``/healthz``, ``/metrics`` and ``scf-node status`` show of it.

A restarted ledger opens the stored head (its store lock went with the process that
ended); the API reconnects by itself, and re-sends the transactions the ledger had not
sealed when it ended (``on_restart``).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from api.schemas.health import ProcessPublic
from chain.errors import ScfError

STABLE_SECONDS = 60.0  # a child that ran this long counts as healthy: the delay resets


class Child(Protocol):
    @property
    def process(self) -> subprocess.Popen[bytes]: ...

    def stop(self) -> None: ...


C = TypeVar("C", bound=Child)


class Supervisor(Generic[C]):
    """Keeps one child running (see the module docstring). ``start`` starts it and returns
    once it serves, raising ``failure`` if it cannot; ``report`` takes one line per
    event; ``on_restart`` runs after every start but the first."""

    def __init__(
        self,
        name: str,
        start: Callable[[], C],
        report: Callable[[str], None],
        failure: type[ScfError],
        *,
        first_delay: float,
        max_delay: float,
        clock: Callable[[], float] = time.monotonic,
        on_restart: Callable[[C], None] | None = None,
        first: C | None = None,
    ) -> None:
        self.name = name
        self._start = start
        self._report = report
        self._failure = failure
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self.on_restart = on_restart
        self._delay = first_delay
        self._next_attempt = 0.0
        self._started_at = 0.0
        self.child: C | None = None
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.down_since: datetime | None = None
        if first is not None:
            self._started(first)
        else:
            self.check()

    def check(self) -> None:
        now = self._clock()
        if self.child is not None:
            code = self.child.process.poll()
            if code is None:
                if now - self._started_at >= STABLE_SECONDS:
                    self._delay = self._first_delay
                return
            self._report(f"ended (exit code {code}); starting it again")
            self.child, self.last_exit_code = None, code
            self.down_since = datetime.now(UTC)
        if now < self._next_attempt:
            return
        try:
            child = self._start()
        except self._failure as exc:
            self._report(f"did not start: {exc.message}; next attempt in {self._delay:.0f}s")
            self._next_attempt = now + self._delay
            self._delay = min(self._delay * 2, self._max_delay)
            return
        restarted = self.down_since is not None
        self._started(child)
        if restarted:
            self.restarts += 1
            if self.on_restart is not None:
                self.on_restart(child)

    def _started(self, child: C) -> None:
        now = self._clock()
        self.child, self.down_since, self._started_at = child, None, now
        # the next start no sooner than the delay: a child that keeps ending backs off
        self._next_attempt = now + self._delay
        self._delay = min(self._delay * 2, self._max_delay)

    def status(self) -> ProcessPublic:
        running = self.child is not None and self.child.process.poll() is None
        return ProcessPublic(
            name=self.name,
            state="running" if running else "restarting",
            pid=self.child.process.pid if running and self.child is not None else None,
            restarts=self.restarts,
            last_exit_code=self.last_exit_code,
            down_since=self.down_since if not running else None,
        )

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def watch_children(
    stop: threading.Event,
    supervisors: Sequence[Supervisor[Any]],
    interval: float,
    publish: Callable[[list[dict[str, Any]]], None],
) -> None:
    """Until ``stop`` is set: check every child each ``interval`` seconds, and
    ``publish`` their status (for ``scf-node status``) whenever it changed."""
    shown: list[dict[str, Any]] | None = None
    while True:
        now = [s.status().model_dump(mode="json") for s in supervisors]
        if now != shown:
            publish(now)
            shown = now
        if stop.wait(interval):
            return
        for supervisor in supervisors:
            supervisor.check()
