"""The transaction manager: concurrent nonces, idempotency across restarts, nonce resync,
decoded reverts. Runs against the embedded ledger (and the tester ledger for reverts)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.contract import deploy_contract, send_transaction
from chain.errors import ScfError, TransactionDropped, TransactionRefused
from chain.ledger import Ledger
from chain.txmanager import (
    IdempotencyConflict,
    PendingTx,
    Refusal,
    TransactionManager,
    TransactionSuperseded,
    classify_refusal,
)
from chain.txstore import TxRecord, TxStatus, TxStore
from tests.helpers import new_signer, pending_record, reverts

TRANSFER_GAS = 21_000
WEEK = 7 * 86_400


class CountingSigner(Signer):
    """A signer that counts its signatures, to prove a retry signs nothing new."""

    def __init__(self, signer: Signer) -> None:
        super().__init__(signer._account)
        self.signed = 0

    def sign_transaction(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        self.signed += 1
        return super().sign_transaction(tx)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Ledger]:
    ledger = open_ledger("embedded", data_dir=tmp_path / "ledger", dev=True)
    yield ledger
    ledger.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TxStore]:
    txs = TxStore(tmp_path / "txs.sqlite")
    yield txs
    txs.close()


@pytest.fixture
def manager(embedded: Ledger, store: TxStore) -> TransactionManager:
    return TransactionManager(embedded, store, receipt_timeout=10.0)


def _in_threads(count: int, work: Callable[[int], list[PendingTx]]) -> list[PendingTx]:
    """Run ``work(i)`` in ``count`` threads started together; re-raise any failure."""
    barrier = threading.Barrier(count)

    def run(i: int) -> list[PendingTx]:
        barrier.wait(timeout=10)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return [p for batch in pool.map(run, range(count)) for p in batch]


def _mined_hashes(ledger: Ledger, first_block: int) -> Counter[bytes]:
    """How often each transaction hash appears in the blocks from ``first_block`` on."""
    mined: Counter[bytes] = Counter()
    for number in range(first_block, ledger.block_number() + 1):
        for tx_hash in ledger.get_block(number)["transactions"]:
            assert isinstance(tx_hash, bytes)  # hashes, not full transactions
            mined[tx_hash] += 1
    return mined


# ---- concurrency ---------------------------------------------------------------------------


def test_32_threads_send_without_nonce_errors_and_every_tx_mined_once(
    embedded: Ledger, manager: TransactionManager
) -> None:
    # 8 threads share each account (same-account contention), 4 accounts run side by side.
    threads, per_thread, accounts = 32, 10, 4
    senders = [new_signer(embedded) for _ in range(accounts)]
    receivers = [Signer.create() for _ in range(threads)]
    balances = {s.address: embedded.get_balance(s.address) for s in senders}
    first_block = embedded.block_number() + 1

    def work(i: int) -> list[PendingTx]:
        sender = senders[i % accounts]
        return [
            manager.submit(sender, receivers[i].address, b"", gas=TRANSFER_GAS, value=j + 1)
            for j in range(per_thread)
        ]

    pending = _in_threads(threads, work)
    receipts = [manager.wait(p) for p in pending]

    assert all(r["status"] == 1 for r in receipts)
    assert len({p.tx_hash for p in pending}) == threads * per_thread
    # each exactly once, and nothing else
    assert _mined_hashes(embedded, first_block) == Counter(p.tx_hash for p in pending)
    per_sender = Counter(p.sender for p in pending)
    for sender in senders:
        assert embedded.get_transaction_count(sender.address) == per_sender[sender.address]
        assert sorted(p.nonce for p in pending if p.sender == sender.address) == list(
            range(per_sender[sender.address])
        )
        # the consortium charges no fees: a sender loses exactly what it sent
        sent = sum(p.value for p in pending if p.sender == sender.address)
        assert embedded.get_balance(sender.address) == balances[sender.address] - sent
    for receiver in receivers:
        assert embedded.get_balance(receiver.address) == sum(range(1, per_thread + 1))


# ---- idempotency ---------------------------------------------------------------------------


def test_same_key_twice_returns_the_same_transaction_and_signs_nothing(
    embedded: Ledger, manager: TransactionManager, store: TxStore
) -> None:
    signer = CountingSigner(new_signer(embedded))
    receiver = Signer.create()
    first = manager.submit(
        signer, receiver.address, b"", gas=TRANSFER_GAS, value=7, idempotency_key="pay-1"
    )
    again = manager.submit(
        signer, receiver.address, b"", gas=TRANSFER_GAS, value=7, idempotency_key="pay-1"
    )
    assert again.tx_hash == first.tx_hash
    assert (first.reused, again.reused) == (False, True)
    assert signer.signed == 1
    manager.wait(again)
    assert embedded.get_balance(receiver.address) == 7
    assert embedded.get_transaction_count(signer.address) == 1
    record = store.by_key("pay-1")
    assert record is not None
    assert record.status is TxStatus.MINED
    assert record.created_at.tzinfo is UTC


def test_same_key_from_many_threads_sends_one_transaction(
    embedded: Ledger, manager: TransactionManager
) -> None:
    signer = CountingSigner(new_signer(embedded))
    receiver = Signer.create()

    def work(_: int) -> list[PendingTx]:
        pending = manager.submit(
            signer, receiver.address, b"", gas=TRANSFER_GAS, value=5, idempotency_key="once"
        )
        return [pending]

    pending = _in_threads(16, work)
    assert len({p.tx_hash for p in pending}) == 1
    assert sum(not p.reused for p in pending) == 1
    assert signer.signed == 1
    manager.wait(pending[0])
    assert embedded.get_balance(receiver.address) == 5
    assert embedded.get_transaction_count(signer.address) == 1


def test_a_key_reused_for_another_operation_is_a_conflict(
    embedded: Ledger, manager: TransactionManager
) -> None:
    signer, other = new_signer(embedded), new_signer(embedded)
    receiver = Signer.create().address
    manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=1, idempotency_key="k")
    with pytest.raises(IdempotencyConflict, match="'k' was already used") as info:
        manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=2, idempotency_key="k")
    assert isinstance(info.value, ScfError)
    assert info.value.code == "idempotency_conflict"
    with pytest.raises(IdempotencyConflict):
        manager.submit(other, receiver, b"", gas=TRANSFER_GAS, value=1, idempotency_key="k")
    assert embedded.get_transaction_count(other.address) == 0


def test_a_refused_transaction_frees_its_key_and_its_nonce(
    embedded: Ledger, manager: TransactionManager, store: TxStore
) -> None:
    signer = new_signer(embedded)
    receiver = Signer.create().address
    with pytest.raises(TransactionRefused, match="intrinsic gas too low"):
        manager.submit(signer, receiver, b"", gas=20_000, value=1, idempotency_key="retry-me")
    assert store.by_key("retry-me") is None
    pending = manager.submit(
        signer, receiver, b"", gas=TRANSFER_GAS, value=1, idempotency_key="retry-me"
    )
    assert pending.nonce == 0
    assert manager.wait(pending)["status"] == 1


def test_after_a_restart_the_stored_transaction_is_returned_and_resent_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, store_file = tmp_path / "ledger", tmp_path / "txs.sqlite"
    ledger = open_ledger("embedded", data_dir=data_dir, dev=True)
    signer, receiver = new_signer(ledger), Signer.create().address
    store = TxStore(store_file)

    def crash(raw: bytes) -> bytes:  # the process dies after storing, before sending
        raise ConnectionError("connection reset")

    monkeypatch.setattr(ledger, "send_raw_transaction", crash)
    with pytest.raises(ConnectionError):
        TransactionManager(ledger, store).submit(
            signer, receiver, b"", gas=TRANSFER_GAS, value=9, idempotency_key="invoice-42"
        )
    stored = store.by_key("invoice-42")
    assert stored is not None
    assert stored.status is TxStatus.PENDING
    store.close()
    ledger.close()

    ledger = open_ledger("embedded", data_dir=data_dir, dev=True)
    store = TxStore(store_file)
    try:
        manager = TransactionManager(ledger, store, receipt_timeout=10.0)
        counting = CountingSigner(signer)
        pending = manager.submit(
            counting, receiver, b"", gas=TRANSFER_GAS, value=9, idempotency_key="invoice-42"
        )
        assert pending.tx_hash == stored.tx_hash
        assert pending.reused
        assert counting.signed == 0
        assert ledger.get_transaction_count(signer.address) == 0  # never reached the ledger

        assert manager.resend_unconfirmed() == [stored.tx_hash]
        assert manager.wait(pending)["status"] == 1
        assert manager.resend_unconfirmed() == []
        assert ledger.get_transaction_count(signer.address) == 1
        assert ledger.get_balance(receiver) == 9
    finally:
        store.close()
        ledger.close()


# ---- nonce resynchronization ---------------------------------------------------------------


def test_a_transaction_sent_outside_the_manager_is_recovered_from(
    embedded: Ledger, manager: TransactionManager
) -> None:
    signer, receiver = new_signer(embedded), Signer.create().address
    manager.transact(signer, receiver, b"", gas=TRANSFER_GAS, value=1)
    # Another tool uses the same account: the manager's local nonce is now stale.
    send_transaction(embedded, signer, to=receiver, data=b"", gas=TRANSFER_GAS, value=10)
    receipt = manager.transact(signer, receiver, b"", gas=TRANSFER_GAS, value=100)
    assert receipt["status"] == 1
    assert embedded.get_transaction_count(signer.address) == 3
    assert embedded.get_balance(receiver) == 111


def test_a_send_lost_in_transit_is_resent_before_the_next_transaction(
    embedded: Ledger, manager: TransactionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer, receiver = new_signer(embedded), Signer.create().address
    real_send = embedded.send_raw_transaction
    calls = 0

    def lose_first(raw: bytes) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("request timed out")
        return real_send(raw)

    monkeypatch.setattr(embedded, "send_raw_transaction", lose_first)
    with pytest.raises(TimeoutError):
        manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=1)
    # The next one meets "nonce too high": the lost one is re-sent, then this one follows.
    second = manager.transact(signer, receiver, b"", gas=TRANSFER_GAS, value=2)
    assert second["status"] == 1
    assert embedded.get_transaction_count(signer.address) == 2
    assert embedded.get_balance(receiver) == 3


def test_refusals_are_classified_from_the_json_rpc_error() -> None:
    def refused(message: str) -> TransactionRefused:
        return TransactionRefused(
            message, details={"rpc_error": {"code": -32000, "message": message}}
        )

    assert classify_refusal(refused("nonce too low: got 1, next is 2")) is Refusal.NONCE_TOO_LOW
    assert classify_refusal(refused("Nonce too high")) is Refusal.NONCE_TOO_HIGH
    assert classify_refusal(refused("already known")) is Refusal.ALREADY_KNOWN
    assert classify_refusal(refused("insufficient funds")) is Refusal.OTHER


# ---- reverts -------------------------------------------------------------------------------


@pytest.fixture(params=["embedded", "tester"])
def any_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "embedded":
        ledger = open_ledger("embedded", data_dir=tmp_path / "ledger", dev=True)
    else:
        ledger = open_ledger("tester")
    yield ledger
    ledger.close()


def test_a_revert_is_decoded_into_the_custom_error(any_ledger: Ledger) -> None:
    store = TxStore("sqlite://")
    manager = TransactionManager(any_ledger, store, receipt_timeout=10.0)
    governor, stranger = new_signer(any_ledger), new_signer(any_ledger)
    governance = deploy_contract(
        any_ledger, governor, "ConsortiumGovernance", [governor.address], [1], 51, 51, WEEK
    )
    data = governance.encode("setVotingPeriod", 5)
    with reverts("GovernanceOnlySelf", stranger.address) as info:
        manager.transact(stranger, governance.address, data, gas=200_000, idempotency_key="v")
    assert info.value.tx_hash is not None
    record = store.by_key("v")
    assert record is not None
    assert record.status is TxStatus.REVERTED
    store.close()


# ---- transactions that will never be mined -------------------------------------------------


def test_a_stored_transaction_whose_nonce_was_taken_is_superseded_not_left_hanging(
    embedded: Ledger, manager: TransactionManager, store: TxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer, receiver = new_signer(embedded), Signer.create().address
    real_send = embedded.send_raw_transaction

    def lost(raw: bytes) -> bytes:
        raise ConnectionError("connection reset")

    monkeypatch.setattr(embedded, "send_raw_transaction", lost)
    with pytest.raises(ConnectionError):
        manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=5, idempotency_key="sup")
    monkeypatch.setattr(embedded, "send_raw_transaction", real_send)
    stored = store.by_key("sup")
    assert stored is not None
    # Another tool spends nonce 0 of the account before the stored transaction is re-sent.
    send_transaction(embedded, signer, to=receiver, data=b"", gas=TRANSFER_GAS, value=1)

    assert manager.resend_unconfirmed() == []
    record = store.by_key("sup")
    assert record is not None
    assert record.status is TxStatus.SUPERSEDED
    with pytest.raises(TransactionSuperseded, match=r"'sup'.*will never be mined") as info:
        manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=5, idempotency_key="sup")
    assert info.value.code == "transaction_superseded"
    assert info.value.details["tx_hash"] == "0x" + stored.tx_hash.hex()
    assert embedded.get_balance(receiver) == 1  # the stored transfer never happened


def test_waiting_on_a_superseded_transaction_says_so_after_the_timeout(
    embedded: Ledger, manager: TransactionManager, store: TxStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer, receiver = new_signer(embedded), Signer.create().address
    real_send = embedded.send_raw_transaction
    monkeypatch.setattr(embedded, "send_raw_transaction", lambda raw: b"\0" * 32)  # "sent"
    pending = manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=5)
    monkeypatch.setattr(embedded, "send_raw_transaction", real_send)
    send_transaction(embedded, signer, to=receiver, data=b"", gas=TRANSFER_GAS, value=1)

    with pytest.raises(TransactionSuperseded):
        manager.wait(pending, timeout=0.2)
    record = store.by_hash(pending.tx_hash)
    assert record is not None
    assert record.status is TxStatus.SUPERSEDED


def test_a_transaction_dropped_at_block_building_is_reported_and_the_nonce_resynced(
    tmp_path: Path, store: TxStore
) -> None:
    # A long block window puts all three transfers into one batch.
    ledger = open_ledger("embedded", data_dir=tmp_path / "slow", dev=True, block_time=0.5)
    try:
        manager = TransactionManager(ledger, store, receipt_timeout=10.0)
        signer, receiver = Signer.create(), Signer.create().address
        ledger.fund(signer.address, 10)
        # Each passes the node's check against the head (balance 10), but the second one
        # no longer fits once the first has spent it; the third follows the gap it leaves.
        first = manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=10)
        second = manager.submit(
            signer, receiver, b"", gas=TRANSFER_GAS, value=10, idempotency_key="twice"
        )
        third = manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=0)
        assert [first.nonce, second.nonce, third.nonce] == [0, 1, 2]

        assert manager.wait(first)["status"] == 1
        # A restart-style re-send finds them dropped and sends neither again.
        assert manager.resend_unconfirmed() == []
        with pytest.raises(TransactionDropped, match="dropped from its block") as info:
            manager.wait(second)
        assert info.value.code == "transaction_dropped"
        with pytest.raises(TransactionDropped, match="nonce gap"):
            manager.wait(third)
        for pending in (second, third):
            record = store.by_hash(pending.tx_hash)
            assert record is not None
            assert record.status is TxStatus.DROPPED
        with pytest.raises(TransactionDropped, match=r"'twice'.*new idempotency key"):
            manager.submit(
                signer, receiver, b"", gas=TRANSFER_GAS, value=10, idempotency_key="twice"
            )

        # The account's nonce is resynchronized: the next transaction takes nonce 1.
        after = manager.submit(signer, receiver, b"", gas=TRANSFER_GAS, value=0)
        assert after.nonce == 1
        assert manager.wait(after)["status"] == 1
        assert manager.resend_unconfirmed() == []  # the dropped ones are never sent again
        assert ledger.get_transaction_count(signer.address) == 2
        assert ledger.get_balance(receiver) == 10
    finally:
        ledger.close()


# ---- the store -----------------------------------------------------------------------------


def test_concurrent_inserts_are_group_committed_and_each_caller_hears_its_outcome(
    store: TxStore,
) -> None:
    threads = 24
    barrier = threading.Barrier(threads)

    def add(i: int) -> TxRecord | None:
        barrier.wait(timeout=10)
        # threads 0 and 1 race for one key; the others have their own
        return store.add(pending_record(i, "shared" if i < 2 else f"key-{i}"))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = list(pool.map(add, range(threads)))

    holders = [o for o in outcomes[:2] if o is not None]
    assert len(holders) == 1  # exactly one of the two racing rows holds the key
    assert outcomes[2:] == [None] * (threads - 2)
    assert store.by_key("shared") == holders[0]
    assert len({store.by_key(f"key-{i}") is not None for i in range(2, threads)}) == 1
    assert store.commits < threads - 1  # rows shared durable commits
    with pytest.raises(IntegrityError):  # the same transaction hash twice
        store.add(pending_record(5, "another-key"))
