"""What ``GET /v1/events`` streams share: a bound on how many are open, one head watcher.

An open stream must not cost the node while it is idle. Each stream used to poll the
read model on a worker thread every half second, so a member holding a few hundred
streams took every worker thread and pooled connection from everyone else. Now:

- ``StreamSlots`` bounds the open streams per member (429 beyond it) and per process
  (503), each with ``Retry-After``;
- ``EventHead`` is one reader of the newest indexed event for all streams of a process:
  an idle stream waits on it, holding no thread and no SQL connection, and reads the
  read model again only once something new was indexed.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from sqlalchemy.orm import Session, sessionmaker

from api.services.event_feed import Position, head_position
from api.settings import Settings
from chain.errors import ScfError

RETRY_AFTER_SECONDS = 5


class TooManyStreams(ScfError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, member_id: int, limit: int) -> None:
        super().__init__(
            f"member {member_id} has {limit} event streams open already, the most it may; "
            "close one, or read with ?limit= and resume with Last-Event-ID",
            details={"limit": limit, "retry_after": RETRY_AFTER_SECONDS},
        )
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class StreamsBusy(ScfError):
    code = "streams_busy"
    http_status = 503

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this node serves {limit} event streams already; retry shortly",
            details={"limit": limit, "retry_after": RETRY_AFTER_SECONDS},
        )
        self.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}


@dataclass
class StreamSlots:
    """Open streams, counted per member and in all; taking a slot past a bound refuses."""

    per_member: int
    total: int
    _open: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, member_id: int) -> Callable[[], None]:
        """Hold a slot for ``member_id``; return the function that gives it back (once)."""
        with self._lock:
            if self._open[member_id] >= self.per_member:
                raise TooManyStreams(member_id, self.per_member)
            if self._open.total() >= self.total:
                raise StreamsBusy(self.total)
            self._open[member_id] += 1
        given_back = threading.Event()

        def give_back() -> None:
            with self._lock:
                if not given_back.is_set():
                    given_back.set()
                    self._open[member_id] -= 1

        return give_back

    def open_streams(self, member_id: int) -> int:
        with self._lock:
            return self._open[member_id]


@dataclass
class _Watch:
    """The watcher's state on one event loop (a node serves from one; tests may run two)."""

    latest: Position | None = None
    tick: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    waiters: int = 0


class EventHead:
    """The newest indexed event, read once per ``poll_seconds`` for every waiting stream."""

    def __init__(self, read_head: Callable[[], Position], poll_seconds: float) -> None:
        self._read_head = read_head  # blocking: run on a worker thread of its own
        self._poll_seconds = poll_seconds
        self._watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = (
            weakref.WeakKeyDictionary()
        )
        # the watcher's reads never wait behind request handlers for a worker thread
        self._limiter = anyio.CapacityLimiter(1)

    async def latest(self) -> Position:
        """The newest indexed event as the watcher last read it (read now on first use)."""
        watch = self._watch()
        if watch.latest is None:
            watch.latest = await self._read()
        return watch.latest

    async def wait_past(self, seen: Position, timeout: float) -> None:
        """Return once an event after ``seen`` is indexed, or after ``timeout`` seconds."""
        watch = self._watch()
        watch.waiters += 1
        if watch.task is None or watch.task.done():
            watch.task = asyncio.create_task(self._follow(watch))
        try:
            with anyio.move_on_after(timeout):
                while watch.latest is None or watch.latest <= seen:
                    await watch.tick.wait()
        finally:
            watch.waiters -= 1

    def _watch(self) -> _Watch:
        loop = asyncio.get_running_loop()
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = _Watch()
        return watch

    async def _follow(self, watch: _Watch) -> None:
        """Read the head while any stream waits; wake them all when it moves."""
        while watch.waiters:
            latest = await self._read()
            if latest != watch.latest:
                watch.latest = latest
                tick, watch.tick = watch.tick, asyncio.Event()
                tick.set()
            await anyio.sleep(self._poll_seconds)

    async def _read(self) -> Position:
        return await anyio.to_thread.run_sync(self._read_head, limiter=self._limiter)


def head_reader(sessions: sessionmaker[Session]) -> Callable[[], Position]:
    """Reads the newest indexed event through a session of its own."""

    def read() -> Position:
        with sessions() as session:
            return head_position(session)

    return read


@dataclass(frozen=True)
class EventStreams:
    slots: StreamSlots
    head: EventHead

    @classmethod
    def from_settings(cls, sessions: sessionmaker[Session], settings: Settings) -> EventStreams:
        slots = StreamSlots(settings.events_max_streams_per_member, settings.events_max_streams)
        return cls(slots, EventHead(head_reader(sessions), settings.events_poll_seconds))
