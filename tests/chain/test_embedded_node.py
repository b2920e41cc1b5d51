"""The embedded node's concurrency and fee rules: submitting and reading never wait for a
block being built, and the consortium charges no fees."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import rlp  # type: ignore[import-untyped]
from eth_typing import Address
from hexbytes import HexBytes

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY, EmbeddedLedger
from chain.contract import deploy_contract
from chain.embedded import node as node_module
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.node import EmbeddedNode, NodeConfig, canonical
from chain.errors import TransactionRefused
from tests.helpers import new_signer

WEEK = 7 * 86_400
HOUR = 3600.0


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[EmbeddedLedger]:
    embedded = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.005)
    yield embedded
    embedded.close()


def test_submits_and_reads_do_not_wait_for_a_block_being_built(ledger: EmbeddedLedger) -> None:
    sender, receiver = new_signer(ledger), Signer.create().address
    governance = deploy_contract(
        ledger, sender, "ConsortiumGovernance", [sender.address], [1], 51, 51, WEEK
    )
    first = ledger.send_raw_transaction(_transfer(ledger, sender, receiver, nonce=1))
    mined = ledger.wait_for_transaction_receipt(first, timeout=10)
    balance = ledger.get_balance(sender.address)

    def submit_and_read() -> tuple[bytes, int, int, Any, Any, Any]:
        tx_hash = ledger.send_raw_transaction(_transfer(ledger, sender, receiver, nonce=2))
        return (
            tx_hash,
            ledger.get_transaction_count(sender.address, "pending"),
            ledger.get_balance(sender.address),
            governance.call("votingPeriod"),
            ledger.get_transaction_receipt(HexBytes(first)),
            ledger.get_block("latest")["number"],
        )

    # The producer holds this lock for as long as it builds a block.
    with ledger.node._chain_lock, ThreadPoolExecutor(max_workers=1) as pool:
        tx_hash, pending_nonce, seen_balance, period, receipt, number = pool.submit(
            submit_and_read
        ).result(timeout=10)
        assert ledger.node.is_queued(tx_hash)
    assert (pending_nonce, seen_balance, period) == (3, balance, WEEK)
    assert receipt == mined
    assert number == mined["blockNumber"]
    assert ledger.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1


@pytest.mark.parametrize("gas", [21_000, 100_000])
def test_senders_without_ether_pay_nothing_whatever_fees_they_offer(
    ledger: EmbeddedLedger, gas: int
) -> None:
    """Nor are they paid: gas above the need used to be refunded at the offered price
    while it had been bought at 0, so a sender made ether from nothing."""
    broke, receiver = Signer.create(), Signer.create().address
    raw, _ = broke.sign_transaction(
        {
            "to": receiver,
            "value": 0,
            "gas": gas,
            "nonce": 0,
            "chainId": ledger.chain_id,
            "maxFeePerGas": 10**9,  # what a wallet offers by default on a public network
            "maxPriorityFeePerGas": 10**9,
        }
    )
    receipt = ledger.wait_for_transaction_receipt(ledger.send_raw_transaction(raw), timeout=10)
    assert receipt["status"] == 1
    assert receipt["effectiveGasPrice"] == 0
    assert ledger.get_balance(broke.address) == 0
    assert ledger.get_balance("0x" + "00" * 20) == 0  # no tip reached the coinbase


def _transfer(ledger: EmbeddedLedger, sender: Signer, to: str, nonce: int) -> bytes:
    raw, _ = sender.sign_transaction(
        {
            "to": to,
            "value": 1,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": ledger.chain_id,
            **ledger.fee_params(),
        }
    )
    return raw


def test_json_rpc_over_http_keeps_the_connection_alive(ledger: EmbeddedLedger) -> None:
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        answers, sockets = [], []
        for request_id in (1, 2):
            body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "eth_chainId"})
            connection.request("POST", "/", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answers.append(json.loads(response.read()))
            sockets.append(connection.sock)
        assert [a["result"] for a in answers] == [hex(ledger.chain_id)] * 2
        assert sockets[0] is not None
        assert sockets[0] is sockets[1]  # one connection, reused
    finally:
        connection.close()
        server.shutdown()
        server.server_close()


def test_a_transaction_invalid_at_execution_is_dropped_with_its_senders_later_ones(
    tmp_path: Path,
) -> None:
    sender, other, receiver = Signer.create(), Signer.create(), Signer.create().address
    config = NodeConfig(
        data_dir=tmp_path / "node",
        block_max_transactions=2,
        genesis_alloc={canonical(sender.address): 10, canonical(other.address): 10},
    )
    node = EmbeddedNode(config)
    try:

        def send(signer: Signer, nonce: int, value: int) -> bytes:
            raw, _ = signer.sign_transaction(
                {
                    "to": receiver,
                    "value": value,
                    "gas": 21_000,
                    "nonce": nonce,
                    "chainId": config.chain_id,
                    "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0,
                }
            )
            return node.submit(raw)

        # All pass the check against the head (balance 10); queued before the producer runs,
        # so the first block holds the first two and the third waits in the queue.
        spends, overspends, follows = send(sender, 0, 10), send(sender, 1, 10), send(sender, 2, 0)
        unrelated = send(other, 0, 10)
        node.start()
        for tx_hash in (spends, overspends, follows, unrelated):
            assert node.wait_for_block_after(tx_hash, timeout=10)

        assert node.locate(spends) is not None
        assert node.locate(unrelated) is not None  # another sender is not held up
        assert node.locate(overspends) is None
        assert "enough balance" in (node.rejection_of(overspends) or "")
        assert node.locate(follows) is None
        assert f"nonce gap: an earlier transaction of the same sender (0x{overspends.hex()})" in (
            node.rejection_of(follows) or ""
        )
        assert node.head.block_number == 2  # a failed transaction does not fail its block
        # The sender's nonces are the ledger's again: the next transaction takes nonce 1.
        assert node.nonce_of(canonical(sender.address)) == 1
        assert node.wait_for_block_after(send(sender, 1, 0), timeout=10)
        assert node.nonce_of(canonical(sender.address), pending=False) == 2
    finally:
        node.stop()


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.mark.parametrize(
    ("field", "value"),
    [(9, 2), (10, 0), (11, 0), (11, SECP256K1_N)],
    ids=["y-parity-2", "r-zero", "s-zero", "s-out-of-range"],
)
def test_a_transaction_with_a_malformed_signature_is_refused(
    ledger: EmbeddedLedger, field: int, value: int
) -> None:
    sender = new_signer(ledger)
    raw = _transfer(ledger, sender, Signer.create().address, nonce=0)
    # An EIP-1559 transaction is 0x02 + rlp([chainId, nonce, tip, maxFee, gas, to, value,
    # data, accessList, yParity, r, s]): replace one signature field.
    fields = rlp.decode(raw[1:])
    fields[field] = value.to_bytes(32, "big").lstrip(b"\0")
    with pytest.raises(TransactionRefused, match="invalid transaction"):
        ledger.send_raw_transaction(raw[:1] + rlp.encode(fields))
    assert ledger.get_transaction_count(sender.address, "pending") == 0


def test_another_valid_signature_makes_another_sender(ledger: EmbeddedLedger) -> None:
    sender = new_signer(ledger)
    raw = _transfer(ledger, sender, Signer.create().address, nonce=0)
    fields = rlp.decode(raw[1:])
    fields[11] = (int.from_bytes(fields[11], "big") - 1).to_bytes(32, "big").lstrip(b"\0")
    # The signature recovers to some other account, which has no ether to send.
    with pytest.raises(TransactionRefused, match="insufficient funds"):
        ledger.send_raw_transaction(raw[:1] + rlp.encode(fields))


def test_json_rpc_replies_are_not_held_back_by_nagles_algorithm(
    ledger: EmbeddedLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Nagle's algorithm a reply's body waited for the client's delayed ACK of its
    headers: 40 ms a request on Linux, whatever the load. Each reply leaves at once: in one
    write, on a connection that does not hold small segments back."""
    server = make_server(ledger.handler, "127.0.0.1", 0)
    connections: list[RecordingSocket] = []
    accept = server.get_request

    def get_request() -> tuple[socket.socket, Any]:
        connection, address = accept()
        connections.append(RecordingSocket.of(connection))
        return connections[-1], address

    monkeypatch.setattr(server, "get_request", get_request)
    serve_in_background(server)
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        replies = []
        for request_id in range(15):
            body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "eth_blockNumber"})
            connection.request("POST", "/", body, {"Content-Type": "application/json"})
            replies.append(json.loads(connection.getresponse().read())["id"])
        assert replies == list(range(15))
        (served,) = connections  # one kept-alive connection
        assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert len(served.writes) == len(replies)  # headers and body together
    finally:
        connection.close()
        server.shutdown()
        server.server_close()


class RecordingSocket(socket.socket):
    """A server's end of a connection that records the size of each write to it."""

    writes: list[int]

    @classmethod
    def of(cls, connection: socket.socket) -> RecordingSocket:
        family, kind, proto = connection.family, connection.type, connection.proto
        recording = cls(family, kind, proto, fileno=connection.detach())
        recording.writes = []
        return recording

    def send(self, data: Any, flags: int = 0) -> int:
        self.writes.append(len(data))
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.writes.append(len(data))
        super().sendall(data, flags)


def test_receipts_read_in_process_are_web3s_receipts(ledger: EmbeddedLedger) -> None:
    sender = new_signer(ledger)
    contract = deploy_contract(
        ledger, sender, "ConsortiumGovernance", [sender.address], [1], 51, 51, WEEK
    )
    deploy_tx = ledger.get_block("latest")["transactions"][-1]
    deployed = ledger.get_transaction_receipt(HexBytes(deploy_tx))  # type: ignore[arg-type]
    assert deployed is not None
    assert deployed["contractAddress"] == contract.address
    transfer = ledger.wait_for_transaction_receipt(
        ledger.send_raw_transaction(_transfer(ledger, sender, sender.address, nonce=1)), 10
    )
    for receipt in (deployed, transfer):
        assert receipt is not None
        tx_hash = receipt["transactionHash"]
        assert receipt == ledger.w3.eth.get_transaction_receipt(tx_hash)
    assert deployed["logs"]  # logs formatted the same way too
    assert ledger.get_transaction_receipt(b"\x11" * 32) is None


class SteppedClock:
    """The embedded node's monotonic clock, moved ahead by the test: a block window of an
    hour passes when the test says so, never because the machine was slow."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def time(self) -> float:  # wall-clock reads (the genesis timestamp) stay real
        return time.time()

    def pass_window(self, node: EmbeddedNode) -> None:
        """Move past ``node``'s block window, and wake its producer to look at the clock."""
        self.ahead += node.config.block_time
        with node._work:
            node._work.notify()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    stepped = SteppedClock()
    monkeypatch.setattr(node_module, "time", stepped)
    return stepped


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s"
        time.sleep(0.005)


def test_txpool_status_counts_what_waits_for_a_block(tmp_path: Path, clock: SteppedClock) -> None:
    # a block window of an hour keeps submitted transactions in the pool until it passes;
    # counted from their arrival, so that it has passed whenever the producer looks
    slow = EmbeddedLedger(tmp_path / "slow", dev=True, block_time=HOUR, window_from_arrival=True)
    try:
        sender = Signer.from_key(DEV_FAUCET_KEY)  # funded at genesis: no block to wait for
        assert slow.handler.handle("txpool_status", []) == {"pending": "0x0", "queued": "0x0"}
        nonce = slow.get_transaction_count(sender.address, "pending")
        hashes = [
            slow.send_raw_transaction(_transfer(slow, sender, Signer.create().address, nonce + i))
            for i in range(2)
        ]
        assert slow.handler.handle("txpool_status", []) == {"pending": "0x2", "queued": "0x0"}
        clock.pass_window(slow.node)
        for tx_hash in hashes:
            slow.wait_for_transaction_receipt(tx_hash, timeout=30)
        assert slow.handler.handle("txpool_status", []) == {"pending": "0x0", "queued": "0x0"}
    finally:
        slow.close()


def test_a_block_closes_one_window_after_its_first_transaction_arrived(
    tmp_path: Path, clock: SteppedClock
) -> None:
    # What queued while a block was being built has waited already: the producer must not
    # wait another whole window for it when it comes back.
    slow = EmbeddedLedger(tmp_path / "slow", dev=True, block_time=HOUR, window_from_arrival=True)
    try:
        sender, receiver = Signer.from_key(DEV_FAUCET_KEY), Signer.create().address
        nonce = slow.get_transaction_count(sender.address, "pending")
        # The producer holds this lock for as long as it builds a block: a long build.
        with slow.node._chain_lock:
            slow.send_raw_transaction(_transfer(slow, sender, receiver, nonce))
            clock.pass_window(slow.node)
            _until(lambda: slow.node.pending_count() == 0, "the producer taking the first")
            second = slow.send_raw_transaction(_transfer(slow, sender, receiver, nonce + 1))
            clock.ahead += HOUR  # the second's window passes during the build
        # sealed right after the first block: another window would take an hour
        assert slow.wait_for_transaction_receipt(second, timeout=30)["status"] == 1
    finally:
        slow.close()


def test_the_accounts_a_submit_is_checked_against_are_always_those_of_the_head(
    ledger: EmbeddedLedger,
) -> None:
    # The node keeps the accounts it checked from block to block, with those each block
    # wrote or touched as the producer left them: a payee's new balance counts at once.
    node = ledger.node
    payers = [new_signer(ledger) for _ in range(3)]
    payee, sink = Signer.create(), Signer.create().address
    with pytest.raises(TransactionRefused, match="insufficient funds"):  # known: broke
        ledger.send_raw_transaction(_transfer(ledger, payee, sink, nonce=0))
    for round_ in range(3):  # blocks that pay the payee and move the payers' nonces
        hashes = [
            ledger.send_raw_transaction(
                _transfer(ledger, payer, payee.address if i == round_ else sink, nonce=round_)
            )
            for i, payer in enumerate(payers)
        ]
        for tx_hash in hashes:
            assert ledger.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1
    paid = ledger.send_raw_transaction(_transfer(ledger, payee, sink, nonce=0))
    assert ledger.wait_for_transaction_receipt(paid, timeout=10)["status"] == 1
    known = list(node._accounts)
    assert {canonical(s.address) for s in [*payers, payee]} <= set(known)
    head, accounts = node.head_accounts(known)
    state = node.state_at(head)
    for address, account in zip(known, accounts, strict=True):
        canonical_address = Address(address)
        assert (account.nonce, account.balance, account.code_hash) == (
            state.get_nonce(canonical_address),
            state.get_balance(canonical_address),
            state.get_code_hash(canonical_address),
        )


class OneTransactionBlocks:
    """A node that seals each transaction in a block of its own, for one funded sender."""

    def __init__(self, data_dir: Path) -> None:
        self.sender, self.receiver = Signer.create(), Signer.create().address
        self.config = NodeConfig(
            data_dir=data_dir,
            block_max_transactions=1,
            block_time=0.001,
            genesis_alloc={canonical(self.sender.address): 10**18},
        )
        self.node = EmbeddedNode(self.config)

    def send(self, nonce: int) -> bytes:
        raw, _ = self.sender.sign_transaction(
            {
                "to": self.receiver,
                "value": 1,
                "gas": 21_000,
                "nonce": nonce,
                "chainId": self.config.chain_id,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
            }
        )
        return self.node.submit(raw)

    def nonce(self, pending: bool = True) -> int:
        return self.node.nonce_of(canonical(self.sender.address), pending)

    def wait_built(self, number: int) -> None:
        """Until the producer has built block ``number`` (committed or not)."""
        deadline = time.monotonic() + 10
        while self.node._tip.block_number < number:
            assert time.monotonic() < deadline, f"the producer did not build block {number}"
            time.sleep(0.005)


def test_a_block_is_published_once_durable_and_the_next_is_built_meanwhile(
    tmp_path: Path,
) -> None:
    chain = OneTransactionBlocks(tmp_path / "node")
    node = chain.node
    node.start()
    try:
        head = node.head
        slow_disk = node._store._env.begin(write=True)  # commits wait for LMDB's writer lock
        try:
            first, second = chain.send(0), chain.send(1)
            chain.wait_built(head.block_number + 2)  # the second on the first
            assert node.head == head  # neither is durable: neither is published
            assert not node.wait_for_block_after(first, timeout=0.1)
            assert node.locate(first) is None
            assert chain.nonce() == 2  # both still count as queued
            assert chain.nonce(pending=False) == 0
        finally:
            slow_disk.abort()
        assert node.wait_for_block_after(second, timeout=10)
        assert node.head.block_number == head.block_number + 2
        assert node.locate(first) is not None
        assert node.locate(second) is not None
        assert chain.nonce(pending=False) == 2
    finally:
        node.stop()


def test_a_block_whose_commit_fails_fails_with_the_block_built_on_it(tmp_path: Path) -> None:
    chain = OneTransactionBlocks(tmp_path / "node")
    node = chain.node
    store = node._store
    real_write = store._write
    disk_full = threading.Event()

    def fail_once(journal: object) -> None:  # the first block's commit: the disk fills up
        store._write = real_write  # type: ignore[method-assign]
        disk_full.wait(10)
        raise OSError("No space left on device")

    store._write = fail_once  # type: ignore[method-assign]
    node.start()
    try:
        head = node.head
        first, second = chain.send(0), chain.send(1)
        chain.wait_built(head.block_number + 2)  # the second on the first, which will fail
        disk_full.set()
        for tx_hash in (first, second):
            assert node.wait_for_block_after(tx_hash, timeout=10)
            assert node.locate(tx_hash) is None
            assert "block failed: No space left on device" in (node.rejection_of(tx_hash) or "")
        assert node.head == head
        assert chain.nonce() == 0
        again = chain.send(0)  # on the durable head
        assert node.wait_for_block_after(again, timeout=10)
        assert node.locate(again) is not None
        assert node.head.parent_hash == head.hash
    finally:
        node.stop()
