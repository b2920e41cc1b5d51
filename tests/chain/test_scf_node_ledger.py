"""The embedded node reached over its JSON-RPC (``ScfNodeLedger``), as the REST API of
``scf-node start`` reaches the ledger process: a conforming ledger, exact reverts from
the receipt, drops named at once, receipts and logs as web3.py formats them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3.types import FilterParams

from chain.backends.embedded import EmbeddedLedger
from chain.backends.rpc import RpcLedger
from chain.backends.scf_node import ScfNodeLedger
from chain.contract import deploy_contract
from chain.embedded.http import make_server, serve_in_background
from chain.errors import ReceiptTimeout, TransactionDropped
from chain.ledger import Ledger
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.chain.ledger_conformance import LedgerConformance
from tests.helpers import new_signer, second_revoke_refused_in_one_block

WEEK = 7 * 86_400


def _served(path: Path, block_time: float = 0.05) -> Iterator[tuple[EmbeddedLedger, str]]:
    ledger = EmbeddedLedger(path, dev=True, block_time=block_time)
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    try:
        yield ledger, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        ledger.close()


class TestScfNodeBackend(LedgerConformance):
    @pytest.fixture(scope="class")
    def backend(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
        for _, url in _served(tmp_path_factory.mktemp("node")):
            client = ScfNodeLedger(url)
            yield client
            client.close()


@pytest.fixture
def slow_blocks(tmp_path: Path) -> Iterator[tuple[EmbeddedLedger, ScfNodeLedger]]:
    """A node with a long block window (several transactions land in one block)."""
    for node, url in _served(tmp_path / "ledger", block_time=0.5):
        client = ScfNodeLedger(url)
        yield node, client
        client.close()


def test_writes_need_no_rehearsal() -> None:
    assert ScfNodeLedger.rehearse_writes is False
    assert RpcLedger.rehearse_writes is True  # any other network: a call first


def test_a_revert_caused_by_the_same_block_is_named_from_the_receipt(
    slow_blocks: tuple[EmbeddedLedger, ScfNodeLedger], tmp_path: Path
) -> None:
    _, client = slow_blocks
    txm = TransactionManager(client, TxStore(tmp_path / "tx.db"), receipt_timeout=10)
    mined, failed = second_revoke_refused_in_one_block(client, txm)
    assert str(dict(failed)["revertReason"]).startswith("0x")
    ok = client.get_transaction_receipt(mined["transactionHash"])
    assert ok is not None
    assert "revertReason" not in ok


def test_a_dropped_transaction_is_named_at_once(
    slow_blocks: tuple[EmbeddedLedger, ScfNodeLedger],
) -> None:
    node, client = slow_blocks
    sender = new_signer(client)
    # the sender's balance moves before the block: its queued transfer no longer fits
    fees = client.fee_params()
    nonce = client.get_transaction_count(sender.address, "pending")
    balance = client.get_balance(sender.address)
    first, first_hash = sender.sign_transaction(
        {"to": new_signer(client).address, "value": balance, "gas": 21_000, "nonce": nonce}
        | {"chainId": client.chain_id, **fees}
    )
    second, second_hash = sender.sign_transaction(
        {"to": sender.address, "value": 1, "gas": 21_000, "nonce": nonce + 1}
        | {"chainId": client.chain_id, **fees}
    )
    client.send_raw_transaction(first)
    client.send_raw_transaction(second)
    assert client.wait_for_transaction_receipt(first_hash, timeout=10)["status"] == 1
    with pytest.raises(TransactionDropped) as dropped:
        client.wait_for_transaction_receipt(second_hash, timeout=10)
    assert dropped.value.details["reason"] == node.node.rejection_of(second_hash)
    assert client.dropped_reason(second_hash) == dropped.value.details["reason"]


def test_an_unknown_transaction_times_out(
    slow_blocks: tuple[EmbeddedLedger, ScfNodeLedger],
) -> None:
    _, client = slow_blocks
    with pytest.raises(ReceiptTimeout):
        client.wait_for_transaction_receipt(b"\x01" * 32, timeout=0.3)


def test_receipts_and_logs_are_web3s(slow_blocks: tuple[EmbeddedLedger, ScfNodeLedger]) -> None:
    node, client = slow_blocks
    web3_client = RpcLedger(client.url)
    governor = new_signer(client)
    governance = deploy_contract(
        client, governor, "ConsortiumGovernance", [governor.address], [1], 51, 51, WEEK
    )
    data = governance.encode("setVotingPeriod", 3600)
    receipt = governance.transact(governor, "propose", [governance.address], [data], "votes")
    tx_hash = bytes(receipt["transactionHash"])
    assert dict(client.get_transaction_receipt(tx_hash) or {}) == dict(
        web3_client.get_transaction_receipt(tx_hash) or {}
    )
    block = int(receipt["blockNumber"])
    query: FilterParams = {"address": governance.address, "fromBlock": block, "toBlock": block}
    mine = client.get_logs(query)
    assert mine
    assert mine == web3_client.get_logs(query)
    assert client.block_number() == web3_client.block_number() == node.block_number()
    web3_client.close()


def test_close_closes_every_threads_connection(tmp_path: Path) -> None:
    for _, url in _served(tmp_path / "ledger"):
        _close_every_connection(ScfNodeLedger(url))


def _close_every_connection(client: ScfNodeLedger) -> None:
    threads = [threading.Thread(target=client.block_number) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    head = client.block_number()
    opened = set(client._opened)
    assert len(opened) == 3  # two threads and this one, one connection each
    client.close()
    assert all(connection.sock is None for connection in opened)
    assert client.block_number() == head  # a later request opens a new one
    assert len(client._opened) == 1
    assert not client._opened & opened
    client.close()


def test_a_burst_of_new_connections_is_served(tmp_path: Path) -> None:
    """Each API worker thread opens its own connection: 32 concurrent clients meant that
    many connections at once, beyond socketserver's default listen backlog of 5 (the
    node reset some of them: eth_sendRawTransaction failed with ConnectionResetError)."""
    for _, url in _served(tmp_path / "ledger"):
        assert _connect_at_once(ScfNodeLedger(url), 128) == []


def _connect_at_once(client: ScfNodeLedger, count: int) -> list[BaseException]:
    """``count`` threads, each on a new connection, ask at the same moment; the failures."""
    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def one() -> None:
        start.wait()
        try:
            client.block_number()
        except BaseException as exc:  # reported by the caller, with the others
            failures.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    return failures
