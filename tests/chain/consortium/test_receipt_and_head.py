"""A node answers a transaction's receipt only once the block holding it is its head (or
below): a caller that reads at the head after the receipt sees what the transaction
wrote (``scf-node member propose-admit`` read a proposal its receipt had just created and
was told there was none)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from chain.consortium.replica import Role
from chain.consortium.seal import node_id
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    Network,
    Node,
    faucet_transfer,
    new_chain_id,
    new_key,
    start_node,
    wait_for,
)

RECEIVER = "0x" + "77" * 20


class PausedImport:
    """Holds ``node``'s next import between the store's commit and the block's
    publication (the node moves its clock on to the block's time there), until released."""

    def __init__(self, node: Node) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        clock = node.ledger.node.clock
        catch_up = clock.catch_up

        def paused(timestamp: int) -> None:
            if not self.reached.is_set():
                self.reached.set()
                self.release.wait(60)
            catch_up(timestamp)

        clock.catch_up = paused  # type: ignore[method-assign]


def test_a_receipt_is_not_answered_before_its_block_is_the_head(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    key_a = new_key()
    network = Network(etcd.endpoints, new_chain_id(), frozenset({node_id(key_a.public_key)}))
    a = start_node(tmp_path, network, "a", key_a)
    nodes.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to mint")
    b = start_node(tmp_path, network, "b", None)
    nodes.append(b)
    pause = PausedImport(b)
    tx_hash = a.ledger.send_raw_transaction(faucet_transfer(a.ledger, RECEIVER))
    block = a.ledger.wait_for_transaction_receipt(tx_hash, 30)["blockNumber"]
    assert pause.reached.wait(60), "b never imported the block"
    try:
        # the block is in b's store, not yet its head: no receipt, no transaction yet
        head = b.head
        assert head < block
        assert b.ledger.get_transaction_receipt(tx_hash) is None
        found: Any = b.ledger.handler.handle("eth_getTransactionByHash", ["0x" + tx_hash.hex()])
        assert found is None or found["blockNumber"] is None
    finally:
        pause.release.set()
    receipt = b.ledger.wait_for_transaction_receipt(tx_hash, 30)
    assert receipt["blockNumber"] == block
    assert b.head >= block
    assert b.ledger.get_balance(RECEIVER) == 1
