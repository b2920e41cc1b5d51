"""The node's child processes as the API shows them (``/healthz``, ``/metrics``), and
one log line per ledger outage instead of one per request.

``scf-node start`` supervises its children (``nodes.runtime.supervisor``) and attaches what it
knows to the app's ``ChildProcesses``; an app without a supervisor (tests, the read
replica) reports none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.schemas.health import ProcessPublic


class ChildProcesses:
    """Where the API reads the node's children from (``attach``: the node's supervisor)."""

    def __init__(self) -> None:
        self._source: Callable[[], list[ProcessPublic]] = list

    def attach(self, source: Callable[[], list[ProcessPublic]]) -> None:
        self._source = source

    def report(self) -> list[ProcessPublic]:
        return self._source()


class OutageLog:
    """Says once that ``what`` is unreachable, and once that it is back: a ledger that is
    away fails every request and every indexer pass, and a line (or a traceback) for each
    of them filled the log with hundreds of kilobytes a minute."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self._lock = threading.Lock()
        self._down = False

    def failed(self, reason: str) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        self._log.error("%s unreachable: %s (said once until it answers again)", self._what, reason)

    def recovered(self) -> None:
        if not self._down:  # the usual case, without the lock
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        self._log.warning("%s answers again", self._what)
