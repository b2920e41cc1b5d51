"""Foundry's ``cast`` (npm ``@foundry-rs/cast``) works against the embedded node's JSON-RPC.

The node serves on a free loopback port; ``cast`` reads the chain id, the block number, calls
a view function, sends a transaction signed with ``--private-key``, reads its receipt and
filters its logs, and the node agrees with what cast saw.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.http import make_server, serve_in_background
from chain.roles import Role
from tests.helpers import DAY, MIN_SPLIT, new_credit_code, new_signer

CAST = (
    Path(__file__).resolve().parents[2]
    / "contracts/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
)

pytestmark = pytest.mark.skipif(
    not CAST.is_file(),
    reason=f"Foundry's cast is not installed at {CAST}: run `npm install` in contracts/",
)


@dataclass(frozen=True)
class Node:
    url: str
    ledger: EmbeddedLedger
    consortium: Consortium
    governor: Signer


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    ledger = EmbeddedLedger(tmp_path_factory.mktemp("cast-node"), dev=True, block_time=0.005)
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    try:
        governor = new_signer(ledger)
        operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
        consortium = deploy_consortium(ledger, governor, operator)
        yield Node(f"http://127.0.0.1:{server.server_address[1]}", ledger, consortium, governor)
    finally:
        server.shutdown()
        server.server_close()
        ledger.close()


def cast(node: Node, *args: str) -> str:
    """Run ``cast args... --rpc-url node``; fail the test with cast's own error if it fails."""
    done = subprocess.run(
        [str(CAST), *args, "--rpc-url", node.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"cast {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout.strip()


def cast_json(node: Node, *args: str) -> Any:
    return json.loads(cast(node, *args, "--json"))


def test_chain_id_and_block_number(node: Node) -> None:
    assert cast(node, "chain-id") == str(node.ledger.chain_id)
    assert int(cast(node, "block-number")) == node.ledger.block_number()


def test_call_of_a_view_function(node: Node) -> None:
    governance = node.consortium.governance.address
    # cast prints "604800 [6.048e5]": the value, then a scientific hint
    assert cast(node, "call", governance, "votingPeriod()(uint256)").split()[0] == str(7 * DAY)


def test_call_that_reverts_carries_the_custom_error_data(node: Node) -> None:
    governance = node.consortium.governance.address
    done = subprocess.run(
        [str(CAST), "call", governance, "state(uint256)(uint8)", "999", "--rpc-url", node.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    selector = keccak(text="GovernanceProposalNotFound(uint256)")[:4].hex()
    assert "execution reverted" in done.stderr
    assert f"0x{selector}{999:064x}" in done.stderr


def test_send_receipt_and_logs(node: Node) -> None:
    """A signed ``propose`` (admin mode executes it at once) sets MIN_SPLIT through cast."""
    governance = node.consortium.governance.address
    set_min_split = node.consortium.governance.encode("setParameter", MIN_SPLIT, 7)
    first_block = node.ledger.block_number() + 1
    receipt = cast_json(
        node,
        "send",
        governance,
        "propose(address[],bytes[],string)",
        f"[{governance}]",
        f"[0x{set_min_split.hex()}]",
        "Minimum split through cast",
        "--private-key",
        "0x" + node.governor.key.hex(),
    )
    assert receipt["status"] == "0x1"
    tx_hash = receipt["transactionHash"]

    # the receipt as cast reads it again, and as the node has it
    assert cast(node, "receipt", tx_hash, "status") == "true"
    assert cast_json(node, "receipt", tx_hash)["blockHash"] == receipt["blockHash"]
    stored = node.ledger.get_transaction_receipt(HexBytes(tx_hash))
    assert stored is not None
    assert stored["status"] == 1
    assert stored["blockHash"].to_0x_hex() == receipt["blockHash"]
    assert node.consortium.governance.call("parameter", MIN_SPLIT) == 7

    # cast logs: by event signature and address, and by an indexed topic
    logs = cast_json(
        node,
        "logs",
        "--from-block",
        str(first_block),
        "--to-block",
        "latest",
        "--address",
        governance,
        "ParameterSet(bytes32,uint256)",
    )
    assert [(log["transactionHash"], log["topics"][1]) for log in logs] == [
        (tx_hash, "0x" + MIN_SPLIT.hex())
    ]
    assert int(logs[0]["data"], 16) == 7
    # by topics: cast ignores an indexed value given after an event signature (it returned
    # every ParameterSet), so both topics go as hashes; the deployment set ISSUANCE_CAP too
    by_key = cast_json(
        node,
        "logs",
        "--from-block",
        "0",
        "0x" + keccak(text="ParameterSet(bytes32,uint256)").hex(),
        "0x" + MIN_SPLIT.hex(),
    )
    assert [log["transactionHash"] for log in by_key] == [tx_hash]


def test_send_with_default_fees_from_an_account_without_ether(node: Node) -> None:
    """cast offers its default fees (max fee and tip of 1 wei per gas); the consortium
    charges nothing, so an account that never held ether sends with no fee flags at all."""
    broke = Signer.create()
    receipt = cast_json(
        node,
        "send",
        "0x000000000000000000000000000000000000dEaD",
        "--value",
        "0",
        "--private-key",
        "0x" + broke.key.hex(),
    )
    assert receipt["status"] == "0x1"
    assert int(receipt["effectiveGasPrice"], 16) == 0
    tx = cast_json(node, "tx", receipt["transactionHash"])
    assert int(tx["maxPriorityFeePerGas"], 16) > 0  # it did offer a tip
    assert node.ledger.get_transaction_count(broke.address) == 1
    assert node.ledger.get_balance(broke.address) == 0


def test_send_with_zero_fees_still_works(node: Node) -> None:
    broke = Signer.create()
    receipt = cast_json(
        node,
        "send",
        "0x000000000000000000000000000000000000dEaD",
        "--gas-price",
        "0",
        "--priority-gas-price",
        "0",
        "--private-key",
        "0x" + broke.key.hex(),
    )
    assert receipt["status"] == "0x1"
    assert node.ledger.get_transaction_count(broke.address) == 1
