"""Follow the ledger's events, in order, into the read model.

Each batch of blocks is one SQL transaction that also moves the cursor, so a
crash anywhere leaves the read model at a whole-batch boundary; events at or
before the cursor are skipped, so re-running is idempotent per (block, log index).
The risk alerts a batch's events raise are raised in that transaction too
(``api.services.alert_watch``), and so are those the time of the batch's newest block
raises (roots past maturity + grace).
"""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.models import ChainEventRow, IndexerCursor, table_of
from api.readmodel.projections import HANDLERS
from api.services.alert_watch import AlertWatch, ChainTime, ConcentrationRule
from api.settings import get_settings
from chain.errors import jsonable
from chain.events import ChainEvent, EventDecoder
from chain.ledger import Ledger

log = logging.getLogger(__name__)

CURSOR_ID = 1
# A second row of the cursor table: set once the read model caught up with a migration's
# successors (chain/migration.py) over the blocks it had indexed before the node switched.
SWITCH_ID = 2
START = (-1, -1)
# built once: every write request's sync runs them
_ADD_EVENT = insert(table_of(ChainEventRow))
_CURSORS = table_of(IndexerCursor)
_READ_CURSOR = select(_CURSORS.c.block_number, _CURSORS.c.log_index).where(
    _CURSORS.c.id == CURSOR_ID
)
_ADD_CURSOR = insert(_CURSORS).values(id=CURSOR_ID)
_MOVE_CURSOR = update(_CURSORS).where(_CURSORS.c.id == CURSOR_ID)


class Indexer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ledger: Ledger,
        decoder: EventDecoder,
        *,
        batch_blocks: int = 500,
        alerts: AlertWatch | None = None,
        first_block: int = 0,
    ) -> None:
        self._sessions = sessions
        # where an empty read model starts: the deployment's first block (blocks before it
        # hold no event of the consortium; on a long-lived external network, many)
        self._first_block = first_block
        self._alerts = alerts or AlertWatch(ConcentrationRule.from_settings(get_settings()))
        self._ledger = ledger
        self._decoder = decoder
        self._batch_blocks = batch_blocks
        self._lock = threading.Lock()  # one sync at a time: request threads share the cursor
        # The last block this indexer committed or read back: every write request syncs to
        # its own block, and most find another request's sync already past it.
        self._synced = START[0]
        # The highest block a caller asked for: requests queued behind a sync are served
        # by the next one, in one range, instead of one block at a time. (Unlocked: a lost
        # update only makes a smaller range; each caller still syncs to its own block.)
        self._wanted = START[0]
        self._switched = not decoder.retired  # nothing to catch up without a migration

    def cursor(self) -> tuple[int, int]:
        """(block, log index) of the last applied event's batch end."""
        with self._sessions() as session:
            row = session.get(IndexerCursor, CURSOR_ID)
            return START if row is None else (row.block_number, row.log_index)

    def lag(self) -> int:
        """Blocks the read model is behind the ledger's head."""
        return max(0, self._ledger.block_number() - self.cursor()[0])

    def sync(self, to_block: int | None = None) -> int:
        """Apply every event up to ``to_block`` (default: the head); return how many."""
        head = self._ledger.block_number() if to_block is None else to_block
        if head <= self._synced:
            return 0
        self._wanted = max(self._wanted, head)
        applied = 0
        with self._lock:
            if head <= self._synced:  # another request's sync got there while this one waited
                return 0
            head = max(head, self._wanted)  # blocks sealed already: callers saw them
            if not self._switched:
                applied += self._follow_switch()
            # Another process may share the database: at first the cursor says where to
            # start; later ranges it applied meanwhile are skipped inside _apply_range.
            block = self._synced if self._synced > START[0] else self._start_after()
            while block < head:
                end = min(head, block + self._batch_blocks)
                applied += self._apply_range(block + 1, end)
                block = end
            self._synced = block
        return applied

    def _follow_switch(self) -> int:
        """Once after a node switched to a migration's successors (``migrate finish``): apply
        the successors' events in the blocks indexed before, when the node knew only the
        legacy addresses (the import's re-keyed invoices, and whatever the successors did
        before this node switched). The legacy contracts stood still meanwhile, so applying
        them after the legacy events of those blocks keeps the order that matters. A read
        model built after the switch has nothing to catch up. Returns the events applied."""
        applied = 0
        with self._sessions.begin() as session:
            if session.get(IndexerCursor, SWITCH_ID) is None:
                cursor = session.get(IndexerCursor, CURSOR_ID)
                upto = START[0] if cursor is None else cursor.block_number
                if upto > START[0]:
                    events = self._decoder.events(self._ledger, 0, upto, self._decoder.current)
                    for event in events:
                        self._apply(session, event)
                        applied += 1
                session.add(IndexerCursor(id=SWITCH_ID, block_number=upto, log_index=-1))
        self._switched = True
        if applied:
            log.info("caught up with the migration's successors: %d events", applied)
        return applied

    def _start_after(self) -> int:
        """The block the cursor is at, or the one before the deployment for a new read model."""
        return max(self.cursor()[0], self._first_block - 1)

    def _apply_range(self, start: int, end: int) -> int:
        events = list(self._decoder.events(self._ledger, start, end))
        head = ChainTime(end, self._ledger.block_timestamp(end))
        with self._sessions.begin() as session:
            cursor = session.connection().execute(_READ_CURSOR).first()
            position = START if cursor is None else (cursor.block_number, cursor.log_index)
            if position[0] >= end:
                return 0  # another process indexed this range already: keep its cursor
            applied = []
            for event in events:
                if event.position <= position:
                    continue  # applied by an earlier run
                self._apply(session, event)
                applied.append(event)
            self._alerts.after_batch(session, applied, head)
            moved = {"block_number": end, "log_index": events[-1].log_index if events else -1}
            session.connection().execute(_ADD_CURSOR if cursor is None else _MOVE_CURSOR, moved)
        if applied:
            log.info("indexed %d events in blocks %d-%d", len(applied), start, end)
        return len(applied)

    @staticmethod
    def _apply(session: Session, event: ChainEvent) -> None:
        session.connection().execute(
            _ADD_EVENT,
            {
                "block_number": event.block_number,
                "log_index": event.log_index,
                "contract": event.contract,
                "name": event.name,
                "transaction_hash": "0x" + event.transaction_hash.hex(),
                "args_json": json.dumps({k: jsonable(v) for k, v in event.args.items()}),
            },
        )
        handler = HANDLERS.get(event.name)
        if handler is not None:
            handler(session, event)
