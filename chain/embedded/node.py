"""The embedded node: one py-evm chain, written by one block-producer thread.

py-evm is not thread-safe, so the writer's chain (``chain``) is used only under
``_chain_lock``: by the producer while it builds a block, and by the development
methods that seal or rewind. Nobody else waits for a block being built:

- ``submit`` checks a transaction (decoding, the node's rules in
  ``chain.embedded.rules``: type, chain id, gas cap, fee; signature, the
  admission policy, nonce and balance) against the *committed view*: the head
  published after the last durable commit, the accounts' nonces and balances at
  that head (cached until the next block), and the nonces of transactions still
  waiting in the queue on top. Then it queues the transaction.
- reads (``reader``, ``state_at``, ``sealed_block``, ``locate``) go to a second
  chain over the store's committed data, and to the blocks the producer keeps in
  memory with their receipts as it seals them.

The producer takes a batch from the queue when it is full or its time window has
passed and executes it in one pass (never py-evm's per-transaction block
rebuilding). In a process of its own (``NodeConfig.window_from_arrival``) the window
opens when the oldest queued transaction arrived, not when the producer comes back
for it: what queued while a block was being built has waited already, and waiting
again only idled the producer (docs/benchmarks.md has the figures). In process with its
clients it opens on the producer's return: that wait is when the clients, sharing
the interpreter lock, submit the next block's transactions.

A transaction that turns out invalid at execution (its sender's
balance or nonce moved since it was checked) is left out of the block and
reported by ``rejection_of``, together with the sender's later queued
transactions, which its missing nonce would block forever. The block is committed
to the store in one durable transaction before its head and receipts are
published: the store's commit thread syncs it while the producer builds the next
block on it, and publishes it once it is durable (a block whose commit fails is
reported failed, with the one built on it). How a block is built
(``chain.embedded.producer``) is py-evm's ``mine_all`` without its thrown-away work,
on a chain whose account database writes its tries in one pass and reports the accounts
each block wrote (``chain.embedded.warm``); a failed block and a rewind drop that report.

In a consortium (``NodeConfig.finality``, None by default) a block is final only once the
consortium's log has committed it: the producer mints only while the hook says so, hands
each block to it before the store commit, and throws away a block it refuses (its
transactions go back to the queue); blocks minted elsewhere come in through
``import_block``, re-executed (docs/decisions/0018). What a minter took from another
node's forward (``submit``'s ``forwarded_in``) it holds for that term only
(``forget_forwarded``, ``nodes.consortium.forward``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI, StateAPI
from eth.chains.base import MiningChain
from eth.constants import ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.db.chain_gaps import reopen_gap
from eth.db.schema import SchemaV1
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound, TransactionNotFound
from eth.rlp.accounts import Account
from eth.rlp.sedes import chain_gaps
from eth_typing import BlockNumber, Hash32
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie

from chain.embedded.calls import (
    DEFAULT_MAX_CALL_GAS,
    DEFAULT_MAX_CALL_SECONDS,
    ScfCallVM,
    check_max_call_gas,
    check_max_call_seconds,
    estimate_within_cap,
)
from chain.embedded.clock import BlockRate, LedgerClock
from chain.embedded.finality import BlockRefused, Finality, seal_key
from chain.embedded.producer import build_block, gap_reason, producer_chain_class
from chain.embedded.pyevm_internals import decanonicalize
from chain.embedded.rules import (
    DEFAULT_MAX_TRANSACTION_GAS,
    Standing,
    TransactionRejected,
    TransactionRules,
)
from chain.embedded.sealed import RecentBlocks, SealedBlock
from chain.embedded.senders import recover_sender
from chain.embedded.store import LmdbStore
from chain.embedded.vm import (
    BASE_FEE,
    BLOCK_GAS_LIMIT,
    ScfMiningChain,
    ScfPragueVM,
    upfront_cost,
)
from chain.embedded.warm import WarmState

log = logging.getLogger(__name__)

__all__ = [
    "BLOCK_GAS_LIMIT",
    "EmbeddedNode",
    "ImportMismatch",
    "NodeConfig",
    "TransactionRejected",
    "canonical",
    "store_dir",
]

Admission = Callable[[bytes], None]
"""Called with a sender's canonical address; raises ``TransactionRejected`` to refuse it."""

REJECTIONS_KEPT = 10_000  # reasons for dropped transactions, newest kept
ACCOUNTS_KNOWN = 10_000  # accounts at the head kept from block to block, at most
RETIRED_CONTRACT = -32003  # a permissioning refusal, as for a sender that is no member


@dataclass
class NodeConfig:
    data_dir: Path
    chain_id: int = 8_888
    block_max_transactions: int = 500
    block_time: float = 0.05  # seconds a batch waits for more transactions
    window_from_arrival: bool = False  # the wait counts from the oldest one's arrival
    genesis_alloc: dict[bytes, int] = field(default_factory=dict)
    genesis_timestamp: int | None = None
    max_transaction_gas: int = DEFAULT_MAX_TRANSACTION_GAS  # per transaction (``rules``)
    max_call_gas: int = DEFAULT_MAX_CALL_GAS  # per eth_call / eth_estimateGas (``calls``)
    max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS  # wall clock of one of them
    # Consortium mode (``chain.embedded.finality``): blocks are final only once the
    # consortium's log commits them. None: a single node, its commits are final.
    finality: Finality | None = None


class ImportMismatch(Exception):
    """A block minted elsewhere does not re-execute to what it says (or does not fit on
    this node's chain): the node halts at its last good block."""

    def __init__(self, number: int, field: str, expected: str, actual: str) -> None:
        if field == "execution":
            message = f"block {number}: does not execute on this node's chain: {actual}"
        else:
            message = (
                f"block {number}: {field} differs: this node computes {expected}, "
                f"the block says {actual}"
            )
        super().__init__(message)
        self.number = number
        self.field = field
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class _Sealed:
    """A block the producer committed, with what it changed, ready to publish."""

    block: SealedBlock
    dropped: dict[bytes, str]  # left-out transaction hash -> why
    written: dict[bytes, Account | None]  # accounts it wrote or touched, after it (None: unknown)


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
        # Contracts a governance-adopted import replaced (chain/migration.py): no transaction
        # may call them, since their code would take writes again once the consortium unpauses.
        self.retired: frozenset[bytes] = frozenset()
        self.rules = TransactionRules(config.chain_id, config.max_transaction_gas)
        check_max_call_gas(config.max_call_gas)
        check_max_call_seconds(config.max_call_seconds)
        self._store = LmdbStore(store_dir(config.data_dir))
        self._db = AtomicDB(self._store)
        # The read chain: calls and estimates run there, on the VM with their deadline.
        self._chain_class = type(
            "ScfChain",
            (ScfMiningChain,),
            {
                "chain_id": config.chain_id,
                "vm_configuration": ((BlockNumber(0), ScfCallVM),),
                "gas_estimator": staticmethod(estimate_within_cap),
            },
        )
        # The writer's chain: the same VM, with read caches kept from block to block.
        self._warm = WarmState()
        self._writer_class = producer_chain_class(config.chain_id, self._warm)
        self._finality = config.finality
        self._coinbase = config.finality.coinbase if config.finality else ZERO_ADDRESS
        self._halted: str | None = None  # why the node stopped (a block that diverged)
        self._chain_lock = threading.RLock()  # the writer's chain; then _cond, never the reverse
        # One mutex, two conditions, so that a submit wakes the producer only and a sealed
        # block wakes the waiters only (not every thread on every event: a GIL convoy).
        mutex = threading.RLock()
        self._cond = threading.Condition(mutex)  # blocks sealed, transactions dropped
        self._work = threading.Condition(mutex)  # transactions queued, for the producer
        self._queue: list[SignedTransactionAPI] = []
        # When the first transaction went into the empty queue (monotonic): the arrival of
        # the oldest queued one, or, after a full block left some behind, earlier still.
        self._window_opened = 0.0
        self._queued_hashes: set[bytes] = set()
        # Consortium mode: queued (or in-flight) transactions this node took from another
        # node's forward while minting, held for that term only (``forget_forwarded``), and
        # the term counter a forward is taken under.
        self._forwarded: set[bytes] = set()
        self._term = 0
        self._next_nonce: dict[bytes, int] = {}  # senders with queued transactions
        self._accounts: dict[bytes, Account] = {}  # accounts at the head, as read or sealed
        self._rejected: OrderedDict[bytes, str] = OrderedDict()
        self._in_flight = 0  # batches taken from the queue and not yet published
        self._in_flight_senders: Counter[bytes] = Counter()  # their senders
        self._commit_failed = False  # a block's commit failed: the writer's tip is lost
        self._running = False
        self._producer: threading.Thread | None = None
        self._tx_builder = ScfPragueVM.get_transaction_builder()
        self.chain = self._open_chain()
        self._reader_db = AtomicDB(self._store.committed())
        self.reader: MiningChain = self._chain_class(self._reader_db)
        """Read-only chain over committed data: use it from any thread, with explicit headers."""
        self.recent = RecentBlocks()
        self._head = self.chain.get_canonical_head()
        self._tip = self._head  # the writer's head: where the next block goes
        self.clock = LedgerClock(self._store, self._head.timestamp)
        self.block_rate = BlockRate()  # what it seals, by this machine's monotonic clock

    # ---- opening ------------------------------------------------------------------------
    def _open_chain(self) -> MiningChain:
        try:
            head = ChainDB(self._db).get_canonical_head()
        except CanonicalHeadNotFound:
            return self._create_genesis()
        log.info("opened ledger at block %d", head.block_number)
        return self._writer_class(self._db)

    def _create_genesis(self) -> MiningChain:
        params = {
            "difficulty": 0,
            "gas_limit": BLOCK_GAS_LIMIT,
            "timestamp": self.config.genesis_timestamp or int(time.time()),
            "base_fee_per_gas": BASE_FEE,
            "extra_data": b"SCF Chain genesis",
            "nonce": b"\0" * 8,
            "mix_hash": b"\0" * 32,
        }
        state = {
            address: {"balance": balance, "nonce": 0, "code": b"", "storage": {}}
            for address, balance in self.config.genesis_alloc.items()
        }
        chain = cast(Any, self._writer_class).from_genesis(self._db, params, state)
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
            self._work.notify_all()
            self._cond.notify_all()
        if self._producer is not None:
            self._producer.join()
            self._producer = None
        with self._chain_lock:
            self._store.close()

    # ---- reads (committed view, no waiting for the producer) ----------------------------
    @property
    def head(self) -> BlockHeaderAPI:
        """The last committed block's header."""
        return self._head

    def head_accounts(self, addresses: Sequence[bytes]) -> tuple[BlockHeaderAPI, list[Account]]:
        """The head and ``addresses``' accounts (nonce, balance, storage root, code hash)
        at it; cheap for accounts asked before, which the node keeps up to date."""
        with self._cond:
            return self._head, [self._account(address) for address in addresses]

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        """The committed state after block ``header``."""
        return self.reader.get_vm(header).state

    def sealed_block(self, number: int) -> SealedBlock:
        """Canonical block ``number`` with its receipts; raises ``HeaderNotFound``."""
        sealed = self.recent.by_number(number)
        if sealed is None:
            block = self.reader.get_canonical_block_by_number(BlockNumber(number))
            sealed = SealedBlock(block, tuple(block.get_receipts(self.reader.chaindb)))
            self.recent.put(sealed)
        return sealed

    def locate(self, tx_hash: bytes) -> tuple[SealedBlock, int] | None:
        """The canonical block holding ``tx_hash`` and its index there, if it is mined and
        its block published: a block is in the store a moment before it is the head (an
        imported one, or one whose commit is being published), and a receipt answered
        then would be followed by reads at the head that do not show it yet."""
        head = self._head.block_number
        found = self.recent.by_transaction(tx_hash)
        if found is not None:
            return found if found[0].number <= head else None
        try:
            number, index = self.reader.get_canonical_transaction_index(Hash32(tx_hash))
            if number > head:
                return None
            sealed = self.sealed_block(number)
        except (TransactionNotFound, HeaderNotFound):
            return None
        if sealed.positions.get(tx_hash) != index:
            return None  # an index left behind by a rewound block
        return sealed, index

    def revert_output(self, tx_hash: bytes) -> bytes | None:
        """What a failed transaction returned (its revert data), for blocks this node sealed
        recently; None when it no longer knows (replay the call on the parent state then)."""
        found = self.recent.by_transaction(tx_hash)
        return found[0].revert_output(tx_hash) if found is not None else None

    def rejection_of(self, tx_hash: bytes) -> str | None:
        """Why a queued transaction was dropped when its block was built, if it was."""
        with self._cond:
            return self._rejected.get(tx_hash)

    def is_queued(self, tx_hash: bytes) -> bool:
        with self._cond:
            return tx_hash in self._queued_hashes

    def pending_count(self) -> int:
        with self._cond:
            return len(self._queue)

    def queued_transactions(self) -> list[bytes]:
        """The raw transactions sent to this node that wait for a block (consortium mode:
        what a node that is not minting forwards to the minter). Not those it took from
        another node's forward: their own node sends them (``forget_forwarded``)."""
        with self._cond:
            own = (tx for tx in self._queue if bytes(tx.hash) not in self._forwarded)
            return [bytes(tx.encode()) for tx in own]

    def nonce_of(self, address: bytes, pending: bool = True) -> int:
        with self._cond:
            if pending and address in self._next_nonce:
                return self._next_nonce[address]
            return self._account(address).nonce

    def _account(self, address: bytes) -> Account:
        """``address``'s account at the published head; held under ``_cond``."""
        known = self._accounts.get(address)
        if known is None:
            if len(self._accounts) >= ACCOUNTS_KNOWN:
                self._accounts.clear()
            encoded = HexaryTrie(self._reader_db, self._head.state_root)[keccak(address)]
            known = rlp.decode(encoded, sedes=Account) if encoded else Account()
            self._accounts[address] = known
        return known

    # ---- writes -------------------------------------------------------------------------
    def submit(self, raw: bytes, *, forwarded_in: int | None = None) -> bytes:
        """Check a signed transaction and queue it for the next block; return its hash.

        Consortium mode: ``forwarded_in`` is the ``forward_term`` a minter took another
        node's forward under; a term ended since refuses it (``Standing.NODE``), and what
        it takes is held for that term only (``forget_forwarded``)."""
        if self._halted is not None:
            raise TransactionRejected(
                f"this node has halted: {self._halted}", standing=Standing.NODE
            )
        tx, sender = self._decode(raw)
        self.admission(sender)
        if tx.to and bytes(tx.to) in self.retired:
            raise TransactionRejected(
                f"{to_checksum_address(tx.to)} is a retired contract: the consortium adopted "
                "its successor (see the node's deployment file)",
                code=RETIRED_CONTRACT,
                standing=Standing.STATE,
            )
        tx_hash = bytes(tx.hash)
        with self._cond:
            if forwarded_in is not None and forwarded_in != self._term:
                raise TransactionRejected(
                    "this node's term as minter ended while it checked the transaction; "
                    "send it to the current minter",
                    standing=Standing.NODE,
                )
            if tx_hash in self._queued_hashes:
                if forwarded_in is None:  # sent here too: this node's own from now on
                    self._forwarded.discard(tx_hash)
                return tx_hash
            expected = self._next_nonce.get(sender)
            if expected is None:
                expected = self._account(sender).nonce
            if tx.nonce != expected:
                kind = "too low" if tx.nonce < expected else "too high"
                raise TransactionRejected(
                    f"nonce {kind}: got {tx.nonce}, next is {expected}", standing=Standing.ORDER
                )
            cost = upfront_cost(tx)
            if cost:
                balance = self._account(sender).balance
                if balance < cost:
                    raise TransactionRejected(
                        f"insufficient funds: balance {balance}, needs {cost}",
                        standing=Standing.STATE,
                    )
            if not self._queue:
                self._window_opened = time.monotonic()
            self._queue.append(tx)
            self._queued_hashes.add(tx_hash)
            if forwarded_in is not None:
                self._forwarded.add(tx_hash)
            self._next_nonce[sender] = tx.nonce + 1
            # The producer waits for a first transaction, then for a full batch or its window.
            if len(self._queue) in (1, self.config.block_max_transactions):
                self._work.notify()
        return tx_hash

    def _decode(self, raw: bytes) -> tuple[SignedTransactionAPI, bytes]:
        try:
            tx = self._tx_builder.decode(raw)
        except Exception as exc:  # any decoding failure is the client's
            raise TransactionRejected(f"invalid transaction: {exc}") from None
        self.rules.check(tx)  # type, chain id, gas, fee: before the signature's cost
        try:
            if tx.type_id is None:  # legacy (rare here): py-evm's whole check
                tx.check_signature_validity()
            # For typed transactions py-evm's check_signature_validity recovers the public key
            # and then verifies the signature with that same key, which cannot fail; ``sender``
            # would recover it a second time. One recovery is the whole check: it refuses
            # malformed signatures (y parity, r or s out of range, no point on the curve).
            sender = recover_sender(tx)  # and caches it as ``tx.sender`` for the producer
        except Exception as exc:  # a signature that recovers no sender is the client's
            raise TransactionRejected(f"invalid transaction: {exc}") from None
        return tx, sender

    def mine(self, timestamp: int | None = None) -> BlockHeaderAPI:
        """Seal an empty block now, or at ``timestamp`` (development: ``evm_mine``); the
        ledger clock goes on from a timestamp ahead of it."""
        with self._chain_lock:
            try:
                sealed = self._seal([], timestamp)
                if self._finality is not None:
                    block = sealed.block.block
                    self._db[seal_key(block.hash)] = self._finality.finalize(block, self.chain)
                self._store.commit()
            except Exception:
                self._recover()
                raise
            with self._cond:
                self._publish(sealed, [], {})
        header = sealed.block.block.header
        self.clock.catch_up(header.timestamp)
        return header

    # ---- development: snapshots ---------------------------------------------------------
    def settle(self, timeout: float = 30.0) -> BlockHeaderAPI:
        """Wait until every queued transaction is sealed (or dropped); return the head."""
        with self._cond:
            self._wait_idle(timeout)
            return self.head

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._queue or self._in_flight:
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
        if self._finality is not None:
            raise RuntimeError("a consortium's final blocks cannot be rewound")
        deadline = time.monotonic() + timeout
        while True:
            self.settle(max(0.0, deadline - time.monotonic()))
            with self._chain_lock, self._cond:  # the lock order of the producer
                if not (self._queue or self._in_flight):
                    return self._rewind_to(block_hash)

    def _rewind_to(self, block_hash: bytes) -> BlockHeaderAPI:
        target = self._canonical_header(block_hash)
        head = self.chain.get_canonical_head()
        numbers = range(head.block_number, target.block_number, -1)
        db = self._db
        header_gaps, block_gaps = decanonicalize(db, [BlockNumber(n) for n in numbers])
        for number in numbers:  # from the top, so the gaps fold into the tip
            del db[SchemaV1.make_block_number_to_hash_lookup_key(BlockNumber(number))]
            header_gaps = reopen_gap(BlockNumber(number), header_gaps)
            block_gaps = reopen_gap(BlockNumber(number), block_gaps)
        db[SchemaV1.make_header_chain_gaps_lookup_key()] = rlp.encode(header_gaps, sedes=chain_gaps)
        db[SchemaV1.make_chain_gaps_lookup_key()] = rlp.encode(block_gaps, sedes=chain_gaps)
        db[SchemaV1.make_canonical_head_hash_lookup_key()] = target.hash
        self._store.commit()
        self._warm.forget()
        self.chain = self._writer_class(self._db)
        self.recent.clear()
        self._accounts.clear()
        self._next_nonce.clear()
        self._head = self._tip = target
        log.info(
            "rewound the ledger from block %d to block %d", head.block_number, target.block_number
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
                while self._running and not (self._queue and self._may_mint()):
                    self._work.wait()
                if not (self._queue and self._may_mint()) and not self._running:
                    return
                from_arrival = self.config.window_from_arrival
                opened = self._window_opened if from_arrival else time.monotonic()
                deadline = opened + self.config.block_time
                while (
                    self._running
                    and len(self._queue) < self.config.block_max_transactions
                    and (remaining := deadline - time.monotonic()) > 0
                ):
                    self._work.wait(remaining)
                batch = self._take_batch()
                self._in_flight += 1
                self._in_flight_senders.update(bytes(tx.sender) for tx in batch)
            self._build_block(batch)

    def _may_mint(self) -> bool:
        return self._finality is None or (self._halted is None and self._finality.can_mint())

    def wake_producer(self) -> None:
        """Consortium mode: the node may mint now (or no longer); let the producer see."""
        with self._cond:
            self._work.notify_all()

    def _take_batch(self) -> list[SignedTransactionAPI]:
        batch: list[SignedTransactionAPI] = []
        gas = 0
        for tx in self._queue[: self.config.block_max_transactions]:
            if gas + tx.gas > BLOCK_GAS_LIMIT:
                break
            batch.append(tx)
            gas += tx.gas
        del self._queue[: len(batch)]  # a full block's leftovers: the next closes at once
        return batch

    def _build_block(self, batch: Sequence[SignedTransactionAPI]) -> None:
        """Build ``batch``'s block and start committing it; it is published once durable."""
        with self._chain_lock:
            try:
                sealed = self._seal(batch)
                if self._finality is not None and not self._made_final(sealed, batch):
                    return
                self._store.commit_in_background(partial(self._committed, sealed, batch))
            except Exception as exc:  # a fault of the node (or of the last commit), not of a tx
                log.exception("could not seal a block of %d transactions", len(batch))
                self._recover()
                self._finish(None, batch, {bytes(tx.hash): f"block failed: {exc}" for tx in batch})
                return
            if sealed.dropped:
                # The senders' later transactions leave the queue when this block is
                # published: only then may the next batch be taken.
                self._await_commit()

    def _made_final(self, sealed: _Sealed, batch: Sequence[SignedTransactionAPI]) -> bool:
        """Consortium mode: have the log commit the block, and keep its seal beside it; or
        throw it away and put its transactions back at the head of the queue (those
        another node forwarded go back to that node only: ``forget_forwarded``)."""
        assert self._finality is not None
        block = sealed.block.block
        try:
            seal = self._finality.finalize(block, self.chain)
        except BlockRefused as exc:
            self._recover()
            # What a block imported meanwhile holds already (sent to the new minter too) is
            # done: only the rest goes back. What another node forwarded goes back to that
            # node only (it holds it and sends it to the next minter): a refused block
            # ends this node's term.
            mined_hashes = {bytes(t.hash) for t in batch if self.locate(bytes(t.hash)) is not None}
            mined = [tx for tx in batch if bytes(tx.hash) in mined_hashes]
            with self._cond:
                rest = [tx for tx in batch if bytes(tx.hash) not in mined_hashes]
                requeued = [tx for tx in rest if bytes(tx.hash) not in self._forwarded]
                forgotten = [tx for tx in rest if bytes(tx.hash) in self._forwarded]
                log.warning(
                    "block %d is not final (%s): thrown away, %d of its transactions queued "
                    "again, %d forwarded let go",
                    block.number,
                    exc,
                    len(requeued),
                    len(forgotten),
                )
                self._in_flight -= 1
                self._in_flight_senders -= Counter(bytes(tx.sender) for tx in batch)
                if not self._queue:
                    self._window_opened = time.monotonic()
                self._queue[:0] = requeued
                self._publish(None, mined + forgotten, {})
                self._cond.notify_all()
            return False
        self._db[seal_key(block.hash)] = seal
        return True

    def _committed(
        self, sealed: _Sealed, batch: Sequence[SignedTransactionAPI], error: BaseException | None
    ) -> None:
        """On the store's commit thread: publish ``sealed`` now durable, or fail it."""
        if error is None:
            self._finish(sealed, batch, sealed.dropped)
            return
        log.error("could not commit block %d: %s", sealed.block.block.header.block_number, error)
        self._commit_failed = True  # before it is reported: the next batch sees it
        self._finish(None, batch, {bytes(tx.hash): f"block failed: {error}" for tx in batch})

    def _finish(
        self,
        sealed: _Sealed | None,
        batch: Sequence[SignedTransactionAPI],
        dropped: dict[bytes, str],
    ) -> None:
        """A taken batch is done: publish its block (None: it failed)."""
        with self._cond:
            self._in_flight -= 1
            self._in_flight_senders -= Counter(bytes(tx.sender) for tx in batch)
            self._publish(sealed, batch, dropped)
            self._cond.notify_all()

    def _await_commit(self) -> None:
        """Wait until the block being committed is published; if its commit failed (and
        it was reported so), reopen the chain at the durable head."""
        try:
            self._store.wait_committed()
        except Exception:
            self._recover()

    def _seal(self, batch: Sequence[SignedTransactionAPI], timestamp: int | None = None) -> _Sealed:
        """Execute ``batch`` on the writer's tip, leaving out invalid transactions; the
        block's writes stay in the store's journal, to be committed."""
        if self._commit_failed:  # the tip was never stored: build on the durable head
            self._recover()
        parent = self._tip
        now = self.clock.now()
        ts = max(timestamp if timestamp is not None else now, parent.timestamp)
        built = build_block(self.chain, parent, batch, ts, self._coinbase)
        written = self._warm.take_written()
        self._tip = built.block.header
        for tx_hash, reason in built.dropped.items():
            log.warning("dropped transaction 0x%s: %s", tx_hash.hex(), reason)
        block = SealedBlock(built.block, built.receipts, revert_outputs=built.reverts)
        return _Sealed(block, built.dropped, written)

    def _publish(
        self,
        sealed: _Sealed | None,
        taken: Sequence[SignedTransactionAPI],
        dropped: dict[bytes, str],
    ) -> None:
        """Make a committed block visible; held under ``_cond``."""
        if sealed is not None:
            self.recent.put(sealed.block)
            self._head = sealed.block.block.header
            self.block_rate.record(len(sealed.block.block.transactions))
            # The accounts known at the previous head hold at this one unless the block
            # wrote them: those are known as the producer left them, or read again.
            for address, account in sealed.written.items():
                if address not in self._accounts:
                    continue
                if account is None:
                    del self._accounts[address]
                else:
                    self._accounts[address] = account
        for tx in taken:
            self._queued_hashes.discard(bytes(tx.hash))
            self._forwarded.discard(bytes(tx.hash))
        for tx_hash, reason in dropped.items():
            self._reject(tx_hash, reason)
        if dropped:
            self._drop_blocked(taken, dropped)
        # Senders with nothing queued or being built any more: the committed state is their
        # truth again.
        still_queued = {bytes(tx.sender) for tx in self._queue} | set(self._in_flight_senders)
        for tx in taken:
            sender = bytes(tx.sender)
            if sender not in still_queued:
                self._next_nonce.pop(sender, None)

    def _drop_blocked(
        self, taken: Sequence[SignedTransactionAPI], dropped: dict[bytes, str]
    ) -> None:
        """Queued transactions of senders that lost a nonce can never be mined: drop them."""
        blocked = {bytes(tx.sender): bytes(tx.hash) for tx in taken if bytes(tx.hash) in dropped}
        keep = []
        for tx in self._queue:
            sender = bytes(tx.sender)
            if sender in blocked:
                self._queued_hashes.discard(bytes(tx.hash))
                self._forwarded.discard(bytes(tx.hash))
                self._reject(bytes(tx.hash), gap_reason(blocked[sender]))
            else:
                keep.append(tx)
        self._queue[:] = keep
        for sender in blocked:
            self._next_nonce.pop(sender, None)

    def _reject(self, tx_hash: bytes, reason: str) -> None:
        self._rejected[tx_hash] = reason
        while len(self._rejected) > REJECTIONS_KEPT:
            self._rejected.popitem(last=False)

    def _recover(self) -> None:
        """Drop the half-built block (and, if the commit in flight fails, the block it
        commits) and reopen the chain at the durable head."""
        self._store.discard()
        self._commit_failed = False
        self._warm.forget()
        self.chain = self._writer_class(self._db)
        self._tip = self.chain.get_canonical_head()

    # ---- consortium mode: blocks minted elsewhere ---------------------------------------
    @property
    def halted(self) -> str | None:
        """Why the node halted (a block it could not import), or None."""
        return self._halted

    def halt(self, reason: str) -> None:
        """Stop taking transactions and minting, for good: the ledger stays at its last
        good block."""
        with self._cond:
            if self._halted is None:
                self._halted = reason
                log.critical("ledger halted at block %d: %s", self._head.block_number, reason)
            self._work.notify_all()

    def seal_of(self, block_hash: bytes) -> bytes | None:
        """The seal kept beside committed block ``block_hash`` (consortium mode)."""
        try:
            return self._store.committed()[seal_key(block_hash)]
        except KeyError:
            return None

    def import_block(self, block: BlockAPI, seal: bytes) -> bool:
        """Import a block another node minted (the consortium's log committed it): re-execute
        it on the head, compare, commit it with its seal, publish it. False: the node has
        it already. ``ImportMismatch``: it differs from this node's chain or re-execution,
        and the node halts at its last good block (nothing of the block is kept)."""
        number = int(block.number)
        with self._chain_lock:
            if self._halted is not None:
                raise RuntimeError(f"this node has halted: {self._halted}")
            self._store.wait_committed()  # the producer's last block is published
            head = self._head
            try:
                if number <= head.block_number:
                    return self._have(block)
                if number != head.block_number + 1 or block.header.parent_hash != head.hash:
                    raise ImportMismatch(
                        number,
                        "parent",
                        f"block {head.block_number} 0x{head.hash.hex()}",
                        f"block {number - 1} 0x{block.header.parent_hash.hex()}",
                    )
                sealed = self._reexecute(head, block)
                self._db[seal_key(block.hash)] = seal
                self._store.commit()
            except ImportMismatch as exc:
                self._recover()
                self.halt(str(exc))
                raise
            except Exception:  # the node's own fault (its store): nothing of the block stays
                self._recover()
                raise
            self._tip = sealed.block.block.header  # the writer builds on the imported block
            # the clock first: whoever sees the block as the head sees time go on from it
            self.clock.catch_up(self._tip.timestamp)
            included = {bytes(tx.hash) for tx in sealed.block.block.transactions}
            with self._cond:
                taken = [tx for tx in self._queue if bytes(tx.hash) in included]
                if taken:
                    self._queue[:] = [tx for tx in self._queue if bytes(tx.hash) not in included]
                self._publish(sealed, taken, {})
                self._drop_superseded(number)
                self._cond.notify_all()
        return True

    def _drop_superseded(self, number: int) -> None:
        """Held under ``_cond`` once block ``number`` is published: queued transactions
        whose nonce an imported block gave to another transaction of their sender can never
        be mined; they leave the queue with the reason (and the sender's later ones, which
        would follow a gap). A node that does not mint held them until it minted itself."""
        stale: dict[bytes, SignedTransactionAPI] = {}
        for tx in self._queue:
            sender = bytes(tx.sender)
            if sender not in stale and tx.nonce < self._account(sender).nonce:
                stale[sender] = tx
        for sender, tx in stale.items():
            reason = f"nonce {tx.nonce} went to another transaction (block {number} or before)"
            self._leave_queue(sender, tx, reason)

    def drop_refused(self, tx_hash: bytes, reason: str) -> bool:
        """Consortium mode: the minter refused a transaction this node forwarded, for good.
        It leaves the queue with ``reason`` (the receipt's waiter answers it as dropped),
        with the sender's later queued transactions (their nonces now follow a gap). False:
        it is not queued here any more (mined, or dropped already)."""
        with self._cond:
            tx = next((t for t in self._queue if bytes(t.hash) == tx_hash), None)
            if tx is None:
                return False
            self._leave_queue(bytes(tx.sender), tx, reason)
            self._cond.notify_all()
        return True

    @property
    def forward_term(self) -> int:
        """Consortium mode: the term a minter takes forwards under (``submit``'s
        ``forwarded_in``); ``forget_forwarded`` ends it."""
        return self._term

    def forget_forwarded(self, settle_timeout: float | None = None) -> int:
        """Consortium mode, while this node may not mint (its finality says so): end the
        term forwards were taken under and let go of every transaction taken from another
        node's forward, without a word of rejection (the node that forwarded it holds it
        and sends it to whichever node mints next); the number let go.

        With ``settle_timeout`` (a node about to mint), first wait for a batch taken in an
        earlier term to be done (its block refused: it may not mint then), so that no
        forward of an earlier term reaches a block of the next: a transaction another
        minter has refused for good since must stay out of every block
        (``nodes.consortium.forward``). ``TimeoutError`` if it is not done in time."""
        with self._cond:
            self._term += 1
            if settle_timeout is not None:
                deadline = time.monotonic() + settle_timeout
                while self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"a block being built did not end in {settle_timeout}s")
                    self._cond.wait(remaining)
            forgotten = [tx for tx in self._queue if bytes(tx.hash) in self._forwarded]
            if not forgotten:
                return 0
            self._queue[:] = [tx for tx in self._queue if bytes(tx.hash) not in self._forwarded]
            for tx in forgotten:
                self._queued_hashes.discard(bytes(tx.hash))
                self._forwarded.discard(bytes(tx.hash))
            for sender in {bytes(tx.sender) for tx in forgotten}:
                nonces = [tx.nonce for tx in self._queue if bytes(tx.sender) == sender]
                if nonces:
                    self._next_nonce[sender] = max(nonces) + 1
                elif sender not in self._in_flight_senders:
                    self._next_nonce.pop(sender, None)
            self._cond.notify_all()
        log.info("let go of %d forwarded transactions: their nodes send them on", len(forgotten))
        return len(forgotten)

    def _leave_queue(self, sender: bytes, first: SignedTransactionAPI, reason: str) -> None:
        """Held under ``_cond``: ``first`` and ``sender``'s later queued transactions leave
        the queue for good, ``first`` with ``reason``, the others with a gap's."""
        first_hash = bytes(first.hash)
        keep: list[SignedTransactionAPI] = []
        for tx in self._queue:
            tx_hash = bytes(tx.hash)
            if bytes(tx.sender) == sender and tx.nonce >= first.nonce:
                self._queued_hashes.discard(tx_hash)
                self._forwarded.discard(tx_hash)
                self._reject(tx_hash, reason if tx_hash == first_hash else gap_reason(first_hash))
                log.warning("dropped queued transaction 0x%s: %s", tx_hash.hex(), reason)
            else:
                keep.append(tx)
        self._queue[:] = keep
        if any(bytes(tx.sender) == sender for tx in keep):
            self._next_nonce[sender] = first.nonce
        else:
            self._next_nonce.pop(sender, None)

    def _have(self, block: BlockAPI) -> bool:
        have = self.reader.get_canonical_block_header_by_number(BlockNumber(block.number))
        if have.hash != block.hash:
            raise ImportMismatch(
                int(block.number), "hash", f"0x{have.hash.hex()}", f"0x{block.hash.hex()}"
            )
        return False

    def _reexecute(self, parent: BlockHeaderAPI, block: BlockAPI) -> _Sealed:
        """Build ``block``'s transactions on ``parent`` as this node's producer would (its
        timestamp, its sealer as coinbase), and write the result to the store's journal if
        it is ``block`` exactly: every header field and the transactions are in its hash.

        The producer's path, not py-evm's ``import_block``: the same rules on the same VM
        (``chain.embedded.producer``), without the work ``import_block`` throws away, and
        through the writer's warm trie nodes, which a verifier's producer does not use."""
        number = int(block.number)
        header = block.header
        try:
            built = build_block(
                self.chain, parent, block.transactions, header.timestamp, header.coinbase
            )
        except Exception as exc:  # the block's own header or transactions are invalid
            raise ImportMismatch(number, "execution", "a valid block", repr(exc)[:300]) from None
        if built.dropped:
            tx_hash, reason = next(iter(built.dropped.items()))
            raise ImportMismatch(
                number, "execution", "valid transactions", f"0x{tx_hash.hex()}: {reason}"[:300]
            )
        imported = built.block
        if imported.hash != block.hash:
            # what execution decides first, then any other header field the sealer chose
            mine, theirs = imported.header.as_dict(), header.as_dict()
            for name in (*_EXECUTED_FIELDS, *map(str, theirs)):
                if mine.get(name) != theirs[name]:
                    raise ImportMismatch(number, name, _shown(mine.get(name)), _shown(theirs[name]))
            raise ImportMismatch(
                number, "hash", f"0x{imported.hash.hex()}", f"0x{block.hash.hex()}"
            )
        written = self._warm.take_written()
        return _Sealed(
            SealedBlock(imported, built.receipts, revert_outputs=built.reverts), {}, written
        )

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


_EXECUTED_FIELDS = ("state_root", "receipt_root", "gas_used", "transaction_root", "bloom")


def _shown(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def canonical(address: str | bytes) -> bytes:
    return bytes(to_canonical_address(address))
