"""Waiting for receipts over JSON-RPC: waiters share one poll of the head, and fees are not
read again for every transaction."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest
from web3 import HTTPProvider, Web3
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.rpc import RpcHandler
from chain.ledger import RECHECK_POLLS, Web3Ledger
from tests.helpers import new_signer


class CountingHandler(RpcHandler):
    """The node's JSON-RPC handler, counting the requests it answers by method."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle(self, method: str, params: list[Any] | None) -> Any:
        with self._lock:
            self.calls[method] += 1
        return super().handle(method, params)


def _serve(ledger: EmbeddedLedger) -> tuple[CountingHandler, Web3Ledger, Callable[[], None]]:
    handler = CountingHandler(ledger.node, dev=True)
    server = make_server(handler, "127.0.0.1", 0)
    serve_in_background(server)
    client = Web3Ledger(Web3(HTTPProvider(f"http://127.0.0.1:{server.server_address[1]}")))

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return handler, client, stop


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[EmbeddedLedger, CountingHandler, Web3Ledger]]:
    """A node whose blocks come slowly (0.3 s after a first transaction), over HTTP."""
    ledger = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.3)
    handler, client, stop = _serve(ledger)
    yield ledger, handler, client
    stop()
    ledger.close()


def _transfer(client: Web3Ledger, sender: Signer, nonce: int = 0) -> bytes:
    raw, _ = sender.sign_transaction(
        {
            "to": sender.address,
            "value": 0,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": client.chain_id,
            **client.fee_params(),
        }
    )
    return raw


def test_concurrent_waiters_share_one_poll_of_the_head(
    node: tuple[EmbeddedLedger, CountingHandler, Web3Ledger],
) -> None:
    ledger, handler, client = node
    threads = 12
    senders = [new_signer(ledger) for _ in range(threads)]
    barrier = threading.Barrier(threads)

    handler.calls.clear()
    raws = [_transfer(client, sender) for sender in senders]

    def send_and_wait(raw: bytes) -> int:
        barrier.wait(timeout=10)
        receipt = client.wait_for_transaction_receipt(client.send_raw_transaction(raw), 30, 0.005)
        return int(receipt["status"])

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(pool.map(send_and_wait, raws))
    seconds = time.monotonic() - start
    assert statuses == [1] * threads
    # Blocks take 0.3 s to come: polling each receipt every 5 ms would ask ~60 times a
    # thread. Each waiter asks once, then when the head moves or RECHECK_POLLS polls passed.
    rechecks = seconds / (RECHECK_POLLS * 0.005)
    assert handler.calls["eth_getTransactionReceipt"] <= threads * (3 + rechecks)
    assert handler.calls["eth_getTransactionReceipt"] < threads * seconds / 0.005 / 4
    assert handler.calls["eth_getBlockByNumber"] == 1  # the fee parameters, read once


def test_a_wait_finds_a_transaction_mined_at_a_height_seen_before_a_rewind(
    tmp_path: Path,
) -> None:
    ledger = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.002)
    _, client, stop = _serve(ledger)
    try:
        sender = new_signer(ledger)
        snapshot = ledger.snapshot()
        first = ledger.send_raw_transaction(_transfer(client, sender, nonce=0))
        height = int(ledger.wait_for_transaction_receipt(first, 10)["blockNumber"])
        heads = client._heads
        assert heads.wait_for_change(-1, 10, 0.001) == height  # the client saw this height
        ledger.revert(snapshot)  # back to height - 1: the next block is at `height` again

        # Hold block building until the client waits (its first receipt check misses), then
        # let the block come before the client's first poll: it sees `height` unchanged.
        # The wait's own timeout is an hour: only the check every RECHECK_POLLS polls (2 s)
        # can find the receipt before the test gives up on it. (A daemon thread: a wait
        # that misses it must not hold the test run for that hour.)
        poll = 0.1
        found: Queue[TxReceipt | Exception] = Queue()

        def wait(tx_hash: bytes) -> None:
            try:
                found.put(client.wait_for_transaction_receipt(tx_hash, 3600, poll))
            except Exception as exc:
                found.put(exc)

        with ledger.node._chain_lock:
            second = ledger.send_raw_transaction(_transfer(client, sender, nonce=0))
            waiter = threading.Thread(target=wait, args=(second,), daemon=True)
            waiter.start()
            while not heads._polling and waiter.is_alive():
                with heads._cond:
                    heads._cond.wait(0.01)
        ledger.node.settle()
        try:
            receipt = found.get(timeout=60)
        except Empty:
            raise AssertionError("the periodic check did not find the receipt") from None
        if isinstance(receipt, Exception):
            raise receipt
        assert int(receipt["blockNumber"]) == height
    finally:
        stop()
        ledger.close()
