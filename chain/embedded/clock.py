"""The embedded ledger's clocks: the time blocks are stamped with, and its block rate.

``LedgerClock`` is this machine's clock plus an offset that development time travel
(``evm_increaseTime``) moves forward. The offset is stored with the chain, in the
ledger's LMDB store, before the call that set it answers, so a restart keeps it: block
time then goes on from where time travel took it. The clock also never runs behind the
head, which a restarted ledger would otherwise stamp on every block until the machine's
clock caught up.

``BlockRate`` counts the blocks the node seals by this machine's monotonic clock, which
neither time travel nor a change of the wall clock bends as they bend block timestamps.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import NamedTuple

from chain.embedded.store import LmdbStore

# Where the store keeps the offset: beside py-evm's keys, which are hashes or carry their
# schema's prefixes.
TIME_OFFSET_KEY = b"scf:time-offset"
RATE_WINDOW = 60.0  # seconds of the monotonic clock that ``BlockRate.measure`` covers


class LedgerClock:
    """Seconds since the epoch as the ledger sees them (``now``)."""

    def __init__(self, store: LmdbStore, head_timestamp: int) -> None:
        self._store = store
        self._lock = threading.Lock()  # changes of the offset, one at a time
        try:
            stored = int(store[TIME_OFFSET_KEY])
        except KeyError:
            stored = 0
        # at least the head's lead over this machine's clock: time goes on from the head
        self.offset = max(stored, head_timestamp - int(time.time()))

    def now(self) -> int:
        return int(time.time()) + self.offset

    def increase(self, seconds: int) -> int:
        """Move the clock ``seconds`` ahead, durably; return the new offset."""
        with self._lock:
            return self._store_offset(self.offset + seconds)

    def catch_up(self, timestamp: int) -> None:
        """Go on from ``timestamp`` (a block mined at a chosen time) if it is ahead."""
        with self._lock:
            lead = timestamp - int(time.time())
            if lead > self.offset:
                self._store_offset(lead)

    def _store_offset(self, offset: int) -> int:
        self._store.put_durably(TIME_OFFSET_KEY, str(offset).encode())
        self.offset = offset
        return offset


class Production(NamedTuple):
    """What the node sealed over the last ``seconds`` of this machine's monotonic clock."""

    seconds: float
    blocks: int
    transactions: int


class BlockRate:
    """The blocks sealed over the last ``RATE_WINDOW`` seconds, with their transactions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._sealed: deque[tuple[float, int]] = deque()  # (monotonic time, transactions)

    def record(self, transactions: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._sealed.append((now, transactions))
            self._forget_before(now - RATE_WINDOW)

    def measure(self) -> Production:
        """The window's blocks and transactions (a shorter window for a node that opened
        since)."""
        now = time.monotonic()
        with self._lock:
            self._forget_before(now - RATE_WINDOW)
            blocks = len(self._sealed)
            transactions = sum(count for _, count in self._sealed)
        return Production(min(RATE_WINDOW, now - self._started), blocks, transactions)

    def _forget_before(self, oldest: float) -> None:
        while self._sealed and self._sealed[0][0] < oldest:
            self._sealed.popleft()
