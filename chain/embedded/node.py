"""The embedded node: one py-evm chain, owned by one block-producer thread.

py-evm is not thread-safe, so every use of the chain holds ``_chain_lock``.
Transactions are checked when they arrive (decoding, chain id, signature,
nonce, fees and balance, the admission policy) and wait in a queue; the
producer seals them in batches with ``MiningChain.mine_all`` (one pass over
the whole batch, never py-evm's per-transaction block rebuilding) when the
batch is full or its time window has passed, then commits the block to the
store in one durable transaction before anyone sees its receipts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import rlp  # type: ignore[import-untyped]
from eth.abc import BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.db.chain_gaps import reopen_gap
from eth.db.schema import SchemaV1
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound
from eth.rlp.sedes import chain_gaps
from eth.vm.forks.prague import PragueVM
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.address import to_canonical_address

from chain.embedded.store import LmdbStore

log = logging.getLogger(__name__)

BLOCK_GAS_LIMIT = 1_000_000_000
# Base fee 0 and a gas limit far above any batch: the base fee never rises, so
# members pay no fees and need no ether (a Besu network with min-gas-price=0).
GENESIS_BASE_FEE = 0

Admission = Callable[[bytes], None]
"""Called with a sender's canonical address; raises ``TransactionRejected`` to refuse it."""


class TransactionRejected(Exception):
    """The node refuses a transaction before it reaches a block (JSON-RPC error -32000/-32003)."""

    def __init__(self, message: str, code: int = -32000) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class NodeConfig:
    data_dir: Path
    chain_id: int = 8_888
    block_max_transactions: int = 500
    block_time: float = 0.05  # seconds a batch waits for more transactions
    genesis_alloc: dict[bytes, int] = field(default_factory=dict)
    genesis_timestamp: int | None = None


class ScfPragueVM(PragueVM):
    """Prague, except that a block may share its parent's second.

    Ethereum demands strictly increasing timestamps; at several blocks a second
    that would push block time ahead of the clock. Like Arbitrum, this ledger
    lets blocks within one second share a timestamp: time never goes backwards
    and never runs ahead of UTC.
    """

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if parent_header is not None and header.timestamp == parent_header.timestamp:
            parent_header = parent_header.copy(timestamp=parent_header.timestamp - 1)
        super().validate_header(header, parent_header)


class ScfMiningChain(MiningChain):
    vm_configuration = ((BlockNumber(0), ScfPragueVM),)
    chain_id = 8_888

    def create_header_from_parent(
        self, parent_header: BlockHeaderAPI, **params: Any
    ) -> BlockHeaderAPI:
        params["gas_limit"] = parent_header.gas_limit  # a consortium keeps its block gas limit
        return super().create_header_from_parent(parent_header, **params)


def store_dir(data_dir: Path) -> Path:
    """Where a node with data directory ``data_dir`` keeps its LMDB store."""
    return data_dir / "ledger"


def _allow_everyone(sender: bytes) -> None:
    return None


class EmbeddedNode:
    """A persistent single-node ledger with a batching block producer."""

    def __init__(self, config: NodeConfig, admission: Admission = _allow_everyone) -> None:
        self.config = config
        self.admission = admission
        self._store = LmdbStore(store_dir(config.data_dir))
        self._db = AtomicDB(self._store)
        self._chain_class = type("ScfChain", (ScfMiningChain,), {"chain_id": config.chain_id})
        self._chain_lock = threading.RLock()
        self._cond = threading.Condition()
        self._queue: list[SignedTransactionAPI] = []
        self._queued_hashes: set[bytes] = set()
        self._next_nonce: dict[bytes, int] = {}
        self._rejected: dict[bytes, str] = {}
        self._building = False  # the producer holds a batch taken from the queue
        self.time_offset = 0
        self._running = False
        self._producer: threading.Thread | None = None
        self.chain = self._open_chain()

    # ---- opening ------------------------------------------------------------------------
    def _open_chain(self) -> MiningChain:
        try:
            head = ChainDB(self._db).get_canonical_head()
        except CanonicalHeadNotFound:
            return self._create_genesis()
        log.info("opened ledger at block %d", head.block_number)
        return cast(MiningChain, self._chain_class(self._db))

    def _create_genesis(self) -> MiningChain:
        params = {
            "difficulty": 0,
            "gas_limit": BLOCK_GAS_LIMIT,
            "timestamp": self.config.genesis_timestamp or int(time.time()),
            "base_fee_per_gas": GENESIS_BASE_FEE,
            "extra_data": b"SCF Chain genesis",
            "nonce": b"\0" * 8,
            "mix_hash": b"\0" * 32,
        }
        state = {
            address: {"balance": balance, "nonce": 0, "code": b"", "storage": {}}
            for address, balance in self.config.genesis_alloc.items()
        }
        chain = self._chain_class.from_genesis(self._db, params, state)  # type: ignore[attr-defined]
        self._store.commit()
        log.info("created genesis block of chain %d", self.config.chain_id)
        return cast(MiningChain, chain)

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._producer = threading.Thread(target=self._produce, name="block-producer", daemon=True)
        self._producer.start()

    def stop(self) -> None:
        """Seal what is queued, stop the producer and close the store."""
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._producer is not None:
            self._producer.join()
            self._producer = None
        with self._chain_lock:
            self._store.close()

    # ---- reads --------------------------------------------------------------------------
    @property
    def head(self) -> BlockHeaderAPI:
        with self._chain_lock:
            return self.chain.get_canonical_head()

    def rejection_of(self, tx_hash: bytes) -> str | None:
        """Why a queued transaction was dropped when its block was built, if it was."""
        return self._rejected.get(tx_hash)

    def is_queued(self, tx_hash: bytes) -> bool:
        with self._cond:
            return tx_hash in self._queued_hashes

    def pending_count(self) -> int:
        with self._cond:
            return len(self._queue)

    def nonce_of(self, address: bytes, pending: bool = True) -> int:
        with self._cond:
            if pending and address in self._next_nonce:
                return self._next_nonce[address]
        with self._chain_lock:
            return int(self.chain.get_vm().state.get_nonce(Address(address)))

    # ---- writes -------------------------------------------------------------------------
    def submit(self, raw: bytes) -> bytes:
        """Check a signed transaction and queue it for the next block; return its hash."""
        with self._chain_lock:
            builder = self.chain.get_vm().get_transaction_builder()
        try:
            tx = builder.decode(raw)
            tx.check_signature_validity()
            sender = tx.sender
        except Exception as exc:  # any decoding failure is the client's
            raise TransactionRejected(f"invalid transaction: {exc}") from None
        tx_chain_id = getattr(tx, "chain_id", None)
        if tx_chain_id is not None and tx_chain_id != self.config.chain_id:
            raise TransactionRejected(
                f"transaction is for chain {tx_chain_id}, "
                f"this ledger is chain {self.config.chain_id}"
            )
        self.admission(sender)
        if tx.gas > BLOCK_GAS_LIMIT:
            raise TransactionRejected(f"gas {tx.gas} exceeds the block gas limit {BLOCK_GAS_LIMIT}")
        if tx.intrinsic_gas > tx.gas:
            raise TransactionRejected(
                f"intrinsic gas too low: needs {tx.intrinsic_gas}, has {tx.gas}"
            )
        with self._cond:
            if tx.hash in self._queued_hashes:
                return bytes(tx.hash)
            expected = self._expected_nonce(sender)
            if tx.nonce != expected:
                kind = "too low" if tx.nonce < expected else "too high"
                raise TransactionRejected(f"nonce {kind}: got {tx.nonce}, next is {expected}")
            self._check_funds(tx, sender)
            self._queue.append(tx)
            self._queued_hashes.add(tx.hash)
            self._next_nonce[sender] = tx.nonce + 1
            self._cond.notify_all()
        return bytes(tx.hash)

    def _expected_nonce(self, sender: bytes) -> int:
        if sender in self._next_nonce:
            return self._next_nonce[sender]
        with self._chain_lock:
            return int(self.chain.get_vm().state.get_nonce(Address(sender)))

    def _check_funds(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        max_fee = getattr(tx, "max_fee_per_gas", None)
        price = max_fee if max_fee is not None else tx.gas_price
        cost = tx.gas * price + tx.value
        if cost == 0:
            return
        with self._chain_lock:
            balance = self.chain.get_vm().state.get_balance(Address(sender))
        if balance < cost:
            raise TransactionRejected(f"insufficient funds: balance {balance}, needs {cost}")

    def mine(self, timestamp: int | None = None) -> BlockHeaderAPI:
        """Seal an empty block now (development: ``evm_mine``)."""
        with self._chain_lock:
            return self._seal([], timestamp)

    # ---- development: snapshots ---------------------------------------------------------
    def settle(self, timeout: float = 30.0) -> BlockHeaderAPI:
        """Wait until every queued transaction is sealed (or dropped); return the head."""
        with self._cond:
            self._wait_idle(timeout)
            return self.head

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._queue or self._building:
            if not self._running:
                raise RuntimeError("the block producer is not running")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(self._queue)} queued transactions were not sealed in {timeout}s"
                )
            self._cond.wait(remaining)

    def rewind(self, block_hash: bytes, timeout: float = 30.0) -> BlockHeaderAPI:
        """Make the canonical block ``block_hash`` the head again (development: ``evm_revert``).

        Queued transactions are sealed first, so everything submitted before the call
        is undone. The blocks above the target leave the canonical chain: their
        number lookups and transaction lookups are deleted (so their transactions and
        receipts no longer resolve), the chain gaps are reopened as py-evm's HeaderDB
        does when it de-canonicalizes a block, and the change is one store commit.
        Their trie nodes stay in the store, unreachable from the new head.
        """
        with self._cond:
            self._wait_idle(timeout)
            with self._chain_lock:
                target = self._canonical_header(block_hash)
                head = self.chain.get_canonical_head()
                numbers = range(head.block_number, target.block_number, -1)
                db = self._db
                ChainDB._decanonicalize_old_headers(db, [BlockNumber(n) for n in numbers])
                header_gaps = ChainDB._get_header_chain_gaps(db)
                block_gaps = ChainDB._get_chain_gaps(db)
                for number in numbers:  # from the top, so the gaps fold into the tip
                    del db[SchemaV1.make_block_number_to_hash_lookup_key(BlockNumber(number))]
                    header_gaps = reopen_gap(BlockNumber(number), header_gaps)
                    block_gaps = reopen_gap(BlockNumber(number), block_gaps)
                db[SchemaV1.make_header_chain_gaps_lookup_key()] = rlp.encode(
                    header_gaps, sedes=chain_gaps
                )
                db[SchemaV1.make_chain_gaps_lookup_key()] = rlp.encode(block_gaps, sedes=chain_gaps)
                db[SchemaV1.make_canonical_head_hash_lookup_key()] = target.hash
                self._store.commit()
                self.chain = self._chain_class(self._db)
                self._next_nonce.clear()
                log.info(
                    "rewound the ledger from block %d to block %d",
                    head.block_number,
                    target.block_number,
                )
                return target

    def _canonical_header(self, block_hash: bytes) -> BlockHeaderAPI:
        try:
            header = self.chain.get_block_header_by_hash(Hash32(block_hash))
            canonical = self.chain.get_canonical_block_header_by_number(header.block_number)
        except HeaderNotFound:
            raise LookupError(f"no block 0x{block_hash.hex()}") from None
        if canonical.hash != header.hash:
            raise LookupError(f"block 0x{block_hash.hex()} is not canonical")
        return header

    # ---- producer -----------------------------------------------------------------------
    def _produce(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._queue:
                    self._cond.wait()
                if not self._queue and not self._running:
                    return
                deadline = time.monotonic() + self.config.block_time
                while (
                    self._running
                    and len(self._queue) < self.config.block_max_transactions
                    and (remaining := deadline - time.monotonic()) > 0
                ):
                    self._cond.wait(remaining)
                batch = self._take_batch()
                self._building = bool(batch)
            self._build_block(batch)

    def _take_batch(self) -> list[SignedTransactionAPI]:
        batch: list[SignedTransactionAPI] = []
        gas = 0
        for tx in self._queue[: self.config.block_max_transactions]:
            if gas + tx.gas > BLOCK_GAS_LIMIT:
                break
            batch.append(tx)
            gas += tx.gas
        del self._queue[: len(batch)]
        return batch

    def _build_block(self, batch: Sequence[SignedTransactionAPI]) -> None:
        with self._chain_lock:
            try:
                self._seal(batch)
            except Exception:  # isolate the transaction that broke the batch
                log.exception(
                    "block of %d transactions failed; applying them one by one", len(batch)
                )
                self._recover()
                for tx in batch:
                    try:
                        self._seal([tx])
                    except Exception as exc:  # drop only this one
                        self._recover()
                        self._rejected[bytes(tx.hash)] = str(exc)
                        log.warning("dropped transaction 0x%s: %s", bytes(tx.hash).hex(), exc)
        with self._cond:
            for tx in batch:
                self._queued_hashes.discard(tx.hash)
            self._resync_nonces(batch)
            self._building = False
            self._cond.notify_all()

    def _resync_nonces(self, batch: Sequence[SignedTransactionAPI]) -> None:
        """Forget pending nonces of senders with nothing queued (state is the truth again)."""
        still_queued = {tx.sender for tx in self._queue}
        for tx in batch:
            if tx.sender not in still_queued:
                self._next_nonce.pop(tx.sender, None)

    def _seal(
        self, batch: Sequence[SignedTransactionAPI], timestamp: int | None = None
    ) -> BlockHeaderAPI:
        parent = self.chain.get_canonical_head()
        now = int(time.time()) + self.time_offset
        ts = max(timestamp if timestamp is not None else now, parent.timestamp)
        # mine_all executes on ``chain.header`` and only stamps ``timestamp`` on the sealed
        # header: execute on a header with the sealed time, so TIMESTAMP matches the block.
        self.chain.header = self.chain.create_header_from_parent(parent, timestamp=ts)
        result, _receipts, _computations = self.chain.mine_all(list(batch), timestamp=ts)
        self._store.commit()
        return result.imported_block.header

    def _recover(self) -> None:
        """Drop the half-built block and reopen the chain at the committed head."""
        self._store.discard()
        self.chain = self._chain_class(self._db)

    # ---- helpers for readers ------------------------------------------------------------
    def receipts_of(self, block_number: int) -> tuple[Any, tuple[ReceiptAPI, ...]]:
        with self._chain_lock:
            block = self.chain.get_canonical_block_by_number(BlockNumber(block_number))
            return block, block.get_receipts(self.chain.chaindb)

    def wait_for_block_after(self, tx_hash: bytes, timeout: float) -> bool:
        """Wait until ``tx_hash`` has left the queue (sealed or dropped)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while tx_hash in self._queued_hashes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True


def canonical(address: str | bytes) -> bytes:
    return bytes(to_canonical_address(address))
