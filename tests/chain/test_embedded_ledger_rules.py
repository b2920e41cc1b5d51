"""The embedded node's ledger rules, as a JSON-RPC client meets them: fees stay zero whatever
blocks use, one transaction's gas is capped well below the block's, the node refuses what it
cannot serve with an error object, and it serves every transaction it mines in every method."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS
from chain.embedded.verify import verify_ledger
from chain.embedded.vm import BLOCK_GAS_LIMIT
from tests.helpers import new_signer

INVALID = bytes.fromhex("fe")  # initcode that consumes all the gas it is given at once
LOOP = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: initcode that loops until out of gas
EIP3860_MAX_INITCODE = 49_152


@dataclass
class Node:
    ledger: EmbeddedLedger
    port: int

    def reply(self, method: str, *params: Any) -> dict[str, Any]:
        """The whole JSON-RPC reply over HTTP: ``result`` or ``error``."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            connection.request("POST", "/", body, {"Content-Type": "application/json"})
            answer: dict[str, Any] = json.loads(connection.getresponse().read())
            return answer
        finally:
            connection.close()

    def call(self, method: str, *params: Any) -> Any:
        answer = self.reply(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    def send(self, raw: bytes) -> dict[str, Any]:
        return self.reply("eth_sendRawTransaction", "0x" + raw.hex())

    def mined(self, raw: bytes) -> dict[str, Any]:
        """Send ``raw``, wait for its block; its receipt."""
        tx_hash = self.call("eth_sendRawTransaction", "0x" + raw.hex())
        receipt = self.ledger.wait_for_transaction_receipt(bytes.fromhex(tx_hash[2:]), 60)
        assert receipt is not None
        found: dict[str, Any] = self.call("eth_getTransactionReceipt", tx_hash)
        return found


def _serve(ledger: EmbeddedLedger) -> Iterator[Node]:
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    try:
        yield Node(ledger, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        ledger.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    yield from _serve(EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.005))


def _sign(signer: Signer, node: Node, **fields: Any) -> bytes:
    tx: dict[str, Any] = {
        "value": 0,
        "gas": 21_000,
        "nonce": node.ledger.get_transaction_count(signer.address, "pending"),
        "chainId": node.ledger.chain_id,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    tx.update(fields)
    if "gasPrice" in tx or tx.get("type") == 1:
        tx.pop("maxFeePerGas", None)
        tx.pop("maxPriorityFeePerGas", None)
    tx = {k: v for k, v in tx.items() if v is not None}
    signed = Account.from_key(signer.key).sign_transaction(tx)
    return bytes(signed.raw_transaction)


# ---- zero fees stay zero ----------------------------------------------------------------------


def test_the_base_fee_stays_zero_whatever_blocks_use(tmp_path: Path) -> None:
    # A node that admits transactions as large as a block (the cap is a node setting).
    ledger = EmbeddedLedger(
        tmp_path / "ledger", dev=True, block_time=0.005, max_transaction_gas=BLOCK_GAS_LIMIT
    )
    for node in _serve(ledger):
        sender = new_signer(ledger)
        # One transaction of 600M gas: more than half the block's gas limit, all of it used
        receipt = node.mined(_sign(sender, node, data=INVALID, gas=600_000_000))
        assert int(receipt["gasUsed"], 16) == 600_000_000
        # ... then sixteen of 1e9 (each a block of its own)
        for _ in range(16):
            node.mined(_sign(sender, node, data=INVALID, gas=1_000_000_000))
        head = node.call("eth_getBlockByNumber", "latest", False)
        assert int(head["gasUsed"], 16) == 1_000_000_000
        # The API's own transactions, which offer a max fee of 0, are still mined.
        assert node.call("eth_gasPrice") == "0x0"
        follow = node.mined(_sign(sender, node, to=Signer.create().address))
        assert follow["status"] == "0x1"
        numbers = range(1, int(follow["blockNumber"], 16) + 1)
        fees = {node.call("eth_getBlockByNumber", hex(n), False)["baseFeePerGas"] for n in numbers}
        assert fees == {"0x0"}
    # verify re-executes the ledger under the same rule
    assert verify_ledger(tmp_path / "ledger" / "ledger", ledger.chain_id).ok


# ---- one transaction cannot stall the ledger --------------------------------------------------


def _error(answer: dict[str, Any]) -> str:
    """The message of a JSON-RPC error object (and that it is one)."""
    assert "result" not in answer, answer
    error = answer["error"]
    assert isinstance(error["code"], int)
    return str(error["message"])


def test_a_transaction_above_the_gas_cap_is_refused_at_submission(node: Node) -> None:
    sender = new_signer(node.ledger)
    for gas in (DEFAULT_MAX_TRANSACTION_GAS + 1, BLOCK_GAS_LIMIT // 2):
        message = _error(node.send(_sign(sender, node, data=LOOP, gas=gas)))
        assert f"gas {gas} exceeds this node's per-transaction gas cap" in message
    assert node.call("txpool_status")["pending"] == "0x0"
    assert node.ledger.get_transaction_count(sender.address, "pending") == 0
    # at the cap it is mined: the loop ends when its gas does
    receipt = node.mined(_sign(sender, node, data=LOOP, gas=DEFAULT_MAX_TRANSACTION_GAS))
    assert (receipt["status"], int(receipt["gasUsed"], 16)) == ("0x0", DEFAULT_MAX_TRANSACTION_GAS)


def test_the_gas_cap_is_a_node_setting(tmp_path: Path) -> None:
    ledger = EmbeddedLedger(
        tmp_path / "ledger", dev=True, block_time=0.005, max_transaction_gas=100_000
    )
    for node in _serve(ledger):
        sender = new_signer(ledger)
        assert "cap 100000" in _error(node.send(_sign(sender, node, data=LOOP, gas=100_001)))
        assert node.mined(_sign(sender, node, data=LOOP, gas=100_000))["status"] == "0x0"
    with pytest.raises(ValueError, match="transaction gas cap must be"):
        EmbeddedLedger(tmp_path / "other", dev=True, max_transaction_gas=BLOCK_GAS_LIMIT + 1)


# ---- refuse what the node cannot serve --------------------------------------------------------


def _blob(signer: Signer, node: Node) -> bytes:
    return _sign(
        signer,
        node,
        type=3,
        to=Signer.create().address,
        maxFeePerBlobGas=1,
        blobVersionedHashes=[b"\x01" + b"\0" * 31],
    )


def _set_code(signer: Signer, node: Node) -> bytes:
    nonce = node.ledger.get_transaction_count(signer.address, "pending")
    authorization = Account.sign_authorization(
        {"chainId": node.ledger.chain_id, "address": "0x" + "11" * 20, "nonce": nonce + 1},
        signer.key,
    )
    return _sign(
        signer, node, type=4, to=signer.address, gas=100_000, authorizationList=[authorization]
    )


def _unprotected(signer: Signer, node: Node) -> bytes:
    return _sign(signer, node, chainId=None, gasPrice=0, to=Signer.create().address)


def _oversized_initcode(signer: Signer, node: Node) -> bytes:
    return _sign(signer, node, data=b"\0" * (EIP3860_MAX_INITCODE + 1), gas=1_000_000)


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (_blob, "blob transactions (type 3, EIP-4844) are not accepted"),
        (_set_code, "set-code transactions (type 4, EIP-7702) are not accepted"),
        (_unprotected, "unprotected transaction"),
        (_oversized_initcode, "initcode of 49153 bytes exceeds the EIP-3860 limit of 49152"),
    ],
    ids=["type-3", "type-4", "pre-eip-155", "initcode"],
)
def test_what_the_node_cannot_serve_is_refused_with_an_error_object(
    node: Node, build: Any, reason: str
) -> None:
    sender = new_signer(node.ledger)
    assert reason in _error(node.send(build(sender, node)))
    assert node.ledger.get_transaction_count(sender.address, "pending") == 0
    # the node still serves: the sender's next transaction is mined
    receipt = node.mined(_sign(sender, node, to=Signer.create().address))
    assert receipt["status"] == "0x1"
    assert int(node.call("eth_getTransactionCount", sender.address, "latest"), 16) == 1


def test_initcode_at_the_eip3860_limit_is_accepted(node: Node) -> None:
    sender = new_signer(node.ledger)
    # 49 152 zero bytes are STOPs: a creation that deploys nothing
    receipt = node.mined(_sign(sender, node, data=b"\0" * EIP3860_MAX_INITCODE, gas=1_000_000))
    assert receipt["status"] == "0x1"


# ---- the node serves what it mines ----------------------------------------------------------


def _legacy(signer: Signer, node: Node, **fields: Any) -> bytes:
    return _sign(signer, node, gasPrice=0, **fields)


def _access_list(signer: Signer, node: Node, **fields: Any) -> bytes:
    entry = {"address": "0x" + "22" * 20, "storageKeys": ["0x" + "00" * 31 + "07"]}
    return _sign(signer, node, type=1, gasPrice=0, accessList=[entry], gas=30_000, **fields)


def _dynamic_fee(signer: Signer, node: Node, **fields: Any) -> bytes:
    entry = {"address": "0x" + "22" * 20, "storageKeys": []}
    return _sign(signer, node, type=2, accessList=[entry], gas=30_000, **fields)


@pytest.mark.parametrize(
    "build", [_legacy, _access_list, _dynamic_fee], ids=["type-0", "type-1", "type-2"]
)
def test_every_accepted_type_is_served_by_every_method(node: Node, build: Any) -> None:
    sender = new_signer(node.ledger)
    receiver = Signer.create().address
    raw = build(sender, node, to=receiver, value=5)
    receipt = node.mined(raw)
    tx_hash = receipt["transactionHash"]
    by_hash = node.call("eth_getTransactionByHash", tx_hash)
    block = node.call("eth_getBlockByNumber", receipt["blockNumber"], True)
    (in_block,) = [tx for tx in block["transactions"] if tx["hash"] == tx_hash]
    assert in_block == by_hash
    assert node.call("eth_getRawTransactionByHash", tx_hash) == "0x" + raw.hex()
    decoded = Account.recover_transaction(raw)
    assert by_hash["from"] == decoded == sender.address
    assert (by_hash["to"], by_hash["value"], by_hash["blockNumber"]) == (
        receiver,
        "0x5",
        receipt["blockNumber"],
    )
    assert by_hash["type"] == receipt["type"]
    assert (receipt["status"], receipt["from"], receipt["to"]) == ("0x1", sender.address, receiver)
    # and web3.py reads them all (its formatters check each field)
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{node.port}"))
    assert w3.eth.get_transaction(tx_hash)["hash"].to_0x_hex() == tx_hash
    assert w3.eth.get_block(int(receipt["blockNumber"], 16), full_transactions=True)["number"]
    assert w3.eth.get_transaction_receipt(tx_hash)["status"] == 1


def test_an_unknown_transaction_has_no_raw_form(node: Node) -> None:
    assert node.call("eth_getRawTransactionByHash", "0x" + "ab" * 32) is None


class _TakeAnything:
    """Admission rules of a node from before type-4 transactions were refused."""

    def check(self, tx: object) -> None:
        return None


def test_a_set_code_transaction_mined_before_the_rule_is_still_served(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = new_signer(node.ledger)
    monkeypatch.setattr(node.ledger.node, "rules", _TakeAnything())
    raw = _set_code(sender, node)
    receipt = node.mined(raw)
    tx_hash = receipt["transactionHash"]
    by_hash = node.call("eth_getTransactionByHash", tx_hash)
    assert by_hash["type"] == "0x4"
    (authorization,) = by_hash["authorizationList"]
    assert authorization["address"] == "0x" + "11" * 20
    block = node.call("eth_getBlockByNumber", receipt["blockNumber"], True)
    assert [tx["hash"] for tx in block["transactions"]] == [tx_hash]
    assert node.call("eth_getRawTransactionByHash", tx_hash) == "0x" + raw.hex()
