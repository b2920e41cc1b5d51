"""Recently sealed blocks kept in memory, with their receipts, for cheap receipt reads.

A client waiting for its transaction reads one receipt; without this cache every
such read loads and decodes the whole block and all its receipts from the store
(quadratic in the block size). The producer puts each block here as it seals it,
so the receipts it just computed are served as they are. Older blocks come in
from the store on first use. Blocks are immutable; the cache only forgets them
(least recently used first) or is cleared when the canonical chain is rewound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockAPI, ReceiptAPI


@dataclass
class SealedBlock:
    """A canonical block, its receipts, and where each transaction and log sits in it."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    positions: dict[bytes, int] = field(init=False)  # transaction hash -> index
    first_logs: list[int] = field(init=False)  # index of each transaction's first log
    formatted: dict[int, dict[str, Any]] = field(default_factory=dict)  # JSON receipts
    # What each failed transaction returned (its revert data), as the producer saw it when it
    # sealed the block; None for blocks read back from the store (receipts do not hold it).
    revert_outputs: dict[bytes, bytes] | None = None

    def __post_init__(self) -> None:
        self.positions = {bytes(tx.hash): i for i, tx in enumerate(self.block.transactions)}
        self.first_logs = []
        count = 0
        for receipt in self.receipts:
            self.first_logs.append(count)
            count += len(receipt.logs)

    def revert_output(self, tx_hash: bytes) -> bytes | None:
        """The revert data of a failed transaction of this block, if the producer kept it."""
        if self.revert_outputs is None:
            return None
        return self.revert_outputs.get(tx_hash, b"")

    @property
    def number(self) -> int:
        return int(self.block.header.block_number)

    @property
    def size(self) -> int:
        return max(1, len(self.block.transactions))


class RecentBlocks:
    """A thread-safe LRU of sealed blocks, bounded by the transactions it holds."""

    def __init__(self, max_transactions: int = 20_000) -> None:
        self.max_transactions = max_transactions
        self._lock = threading.Lock()
        self._by_number: OrderedDict[int, SealedBlock] = OrderedDict()
        self._by_tx: dict[bytes, int] = {}
        self._held = 0

    def put(self, sealed: SealedBlock) -> None:
        with self._lock:
            self._drop(sealed.number)
            self._by_number[sealed.number] = sealed
            self._by_tx.update(dict.fromkeys(sealed.positions, sealed.number))
            self._held += sealed.size
            while self._held > self.max_transactions and len(self._by_number) > 1:
                self._drop(next(iter(self._by_number)))

    def by_number(self, number: int) -> SealedBlock | None:
        with self._lock:
            sealed = self._by_number.get(number)
            if sealed is not None:
                self._by_number.move_to_end(number)
            return sealed

    def by_transaction(self, tx_hash: bytes) -> tuple[SealedBlock, int] | None:
        with self._lock:
            number = self._by_tx.get(tx_hash)
            if number is None:
                return None
            sealed = self._by_number[number]
            self._by_number.move_to_end(number)
            return sealed, sealed.positions[tx_hash]

    def clear(self) -> None:
        with self._lock:
            self._by_number.clear()
            self._by_tx.clear()
            self._held = 0

    def _drop(self, number: int) -> None:
        sealed = self._by_number.pop(number, None)
        if sealed is None:
            return
        self._held -= sealed.size
        for tx_hash in sealed.positions:
            if self._by_tx.get(tx_hash) == number:
                del self._by_tx[tx_hash]
