"""The embedded ledger's clock: the time blocks are stamped with.

``LedgerClock`` is this machine's clock plus an offset that development time travel
(``evm_increaseTime``) moves forward. The offset is stored with the chain, in the
ledger's LMDB store, before the call that set it answers, so a restart keeps it: block
time then goes on from where time travel took it. The clock also never runs behind the
head, which a restarted ledger would otherwise stamp on every block until the machine's
clock caught up.
"""

from __future__ import annotations

import threading
import time

from chain.embedded.store import LmdbStore

# Where the store keeps the offset: beside py-evm's keys, which are hashes or carry their
# schema's prefixes.
TIME_OFFSET_KEY = b"scf:time-offset"


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
