"""Development time travel on a consortium node (``--dev``): what would change one node's
chain or clock outside the log (evm_snapshot, evm_revert, evm_increaseTime) is refused
with a clear JSON-RPC error; evm_mine is the minter's only, and its block, at the time
asked, goes through the log to every node."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chain.embedded.rpc import RpcError
from nodes.consortium.forward import METHOD_NOT_SUPPORTED
from tests.chain.consortium.forwarding import ForwardingNode
from tests.chain.consortium.ledger_nodes import wait_for

DAY = 86_400
PARAMS: dict[str, list[Any]] = {
    "evm_snapshot": [],
    "evm_revert": ["0x1"],
    "evm_increaseTime": [DAY],
}


@pytest.mark.parametrize("method", ["evm_snapshot", "evm_revert", "evm_increaseTime"])
def test_time_travel_outside_the_log_is_refused_on_every_node(
    forwarding_pair: list[ForwardingNode], method: str
) -> None:
    params = PARAMS[method]
    for node in forwarding_pair:
        offset, head = node.ledger.node.clock.offset, node.head
        with pytest.raises(RpcError, match="outside the consortium's log") as refused:
            node.rpc.handle(method, params)
        assert refused.value.code == METHOD_NOT_SUPPORTED
        assert node.ledger.node.clock.offset == offset
        assert node.head == head


def test_a_verifier_mines_nothing_and_says_who_does(forwarding_pair: list[ForwardingNode]) -> None:
    _a, b = forwarding_pair
    head = b.head
    with pytest.raises(RpcError, match="answered by the minter only") as refused:
        b.rpc.handle("evm_mine", [])
    assert refused.value.code == METHOD_NOT_SUPPORTED
    assert b.head == head


def test_the_minters_block_at_a_chosen_time_reaches_every_node(
    forwarding_pair: list[ForwardingNode],
) -> None:
    a, b = forwarding_pair
    later = int(time.time()) + 90 * DAY
    a.rpc.handle("evm_mine", [later])
    number = a.head
    assert a.ledger.node.head.timestamp == later
    wait_for(lambda: b.head >= number, "b to import the block")
    imported = b.ledger.node.sealed_block(number).block.header
    assert imported.timestamp == later
    assert imported.hash == a.ledger.node.head.hash
    # both clocks go on from it: whichever mints next stamps no earlier time
    assert a.ledger.node.clock.now() >= later
    assert b.ledger.node.clock.now() >= later
