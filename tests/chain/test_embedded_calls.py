"""``eth_call`` and ``eth_estimateGas`` are bounded: an endless loop once ran ~9 minutes of
the ledger's CPU per call at the block gas limit. A call gets at most the node's call gas
cap and ends at its deadline; whatever fails answers a JSON-RPC error object, and the
node serves calls and transactions as before afterwards."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.backends.embedded import EmbeddedLedger
from chain.embedded.calls import DEFAULT_MAX_CALL_GAS, MAX_CALL_SECONDS, ScfCallComputation
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.vm import BLOCK_GAS_LIMIT, ScfPragueComputation
from tests.helpers import new_signer

JUMP_LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP
JUMPI_LOOP = "0x5b6001600057"  # JUMPDEST PUSH1 1 PUSH1 0 JUMPI
# initcode that deploys JUMP_LOOP as the contract's code
DEPLOY_LOOP = "0x635b6000566000526004601cf3"
ANSWER_42 = "0x602a60005260206000f3"  # initcode returning the word 42
INVALID = "0xfe"
SOMEONE = "0x" + "11" * 20


class Rpc:
    """JSON-RPC over HTTP to a served ledger, on one kept-alive connection."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def reply(self, method: str, *params: Any) -> dict[str, Any]:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        self.connection.request("POST", "/", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer

    def result(self, method: str, *params: Any) -> Any:
        answer = self.reply(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, method: str, *params: Any) -> dict[str, Any]:
        answer = self.reply(method, *params)
        assert "result" not in answer, answer
        error: dict[str, Any] = answer["error"]
        assert isinstance(error["code"], int)
        assert isinstance(error["message"], str)
        return error


def _served(ledger: EmbeddedLedger) -> Iterator[tuple[EmbeddedLedger, Rpc]]:
    server = make_server(ledger.handler, "127.0.0.1", 0)
    serve_in_background(server)
    rpc = Rpc(server.server_address[1])
    try:
        yield ledger, rpc
    finally:
        rpc.connection.close()
        server.shutdown()
        server.server_close()
        ledger.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[EmbeddedLedger, Rpc]]:
    # The longest time limit: a loop at the gas cap ends by the cap however loaded the
    # machine is (a few seconds), so these tests see the cap, not the deadline.
    ledger = EmbeddedLedger(
        tmp_path / "ledger", dev=True, block_time=0.005, max_call_seconds=MAX_CALL_SECONDS
    )
    yield from _served(ledger)


def _deploy_loop(ledger: EmbeddedLedger, rpc: Rpc) -> str:
    sender = new_signer(ledger)
    signed = Account.from_key(sender.key).sign_transaction(
        {
            "data": DEPLOY_LOOP,
            "gas": 100_000,
            "nonce": ledger.get_transaction_count(sender.address, "pending"),
            "chainId": ledger.chain_id,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
        }
    )
    tx_hash = rpc.result("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
    ledger.wait_for_transaction_receipt(bytes.fromhex(tx_hash[2:]), 60)
    receipt = rpc.result("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    address: str = receipt["contractAddress"]
    assert rpc.result("eth_getCode", address) == JUMP_LOOP
    return address


def _still_serves(ledger: EmbeddedLedger, rpc: Rpc) -> None:
    """A normal call answers, and a transaction still goes into a block."""
    assert int(rpc.result("eth_call", {"data": ANSWER_42}), 16) == 42
    before = int(rpc.result("eth_blockNumber"), 16)
    new_signer(ledger)  # funded by a faucet transfer, mined
    assert int(rpc.result("eth_blockNumber"), 16) > before


def test_a_looping_contract_runs_out_of_the_call_gas_cap(
    served: tuple[EmbeddedLedger, Rpc],
) -> None:
    ledger, rpc = served
    loop = _deploy_loop(ledger, rpc)
    # asked for the block gas limit (and for no gas at all): given the call cap
    for call in ({"to": loop, "gas": hex(BLOCK_GAS_LIMIT)}, {"to": loop}):
        error = rpc.error("eth_call", call, "latest")
        assert error["code"] == -32000
        assert error["message"] == f"out of gas (the call had {DEFAULT_MAX_CALL_GAS})"
    _still_serves(ledger, rpc)


def test_estimating_a_loop_searches_up_to_the_cap_only(
    served: tuple[EmbeddedLedger, Rpc],
) -> None:
    ledger, rpc = served
    error = rpc.error("eth_estimateGas", {"data": JUMP_LOOP, "gas": hex(BLOCK_GAS_LIMIT)})
    assert error == {
        "code": -32000,
        "message": f"gas required exceeds allowance ({DEFAULT_MAX_CALL_GAS})",
    }
    # what fits is estimated as before
    assert rpc.result("eth_estimateGas", {"from": SOMEONE, "to": SOMEONE}) == hex(21_000)
    _still_serves(ledger, rpc)


@pytest.mark.parametrize("method", ["eth_call", "eth_estimateGas"])
@pytest.mark.parametrize("loop", [JUMP_LOOP, JUMPI_LOOP])
def test_a_call_ends_at_its_deadline(tmp_path: Path, method: str, loop: str) -> None:
    # A deadline far shorter than the cap's loop takes: the deadline ends it, not the gas.
    opened = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.005, max_call_seconds=0.01)
    for ledger, rpc in _served(opened):
        error = rpc.error(method, {"data": loop})
        assert error == {"code": -32000, "message": "execution aborted (timeout = 0.01s)"}
        _still_serves(ledger, rpc)


def test_the_call_gas_cap_is_a_node_setting(tmp_path: Path) -> None:
    opened = EmbeddedLedger(tmp_path / "ledger", dev=True, block_time=0.005, max_call_gas=100_000)
    for _, rpc in _served(opened):
        error = rpc.error("eth_call", {"data": JUMP_LOOP, "gas": hex(10**6)})
        assert error["message"] == "out of gas (the call had 100000)"
        assert int(rpc.result("eth_call", {"data": ANSWER_42}), 16) == 42
        # a call given less than it needs before it starts
        error = rpc.error("eth_call", {"data": ANSWER_42, "gas": hex(30_000)})
        assert error == {"code": -32000, "message": "intrinsic gas too low: have 30000, want 53136"}
    with pytest.raises(ValueError, match="call gas cap"):
        EmbeddedLedger(tmp_path / "other", dev=True, max_call_gas=20_000)
    with pytest.raises(ValueError, match="time limit"):
        EmbeddedLedger(tmp_path / "other", dev=True, max_call_seconds=0)


def test_an_invalid_opcode_is_an_error_object(served: tuple[EmbeddedLedger, Rpc]) -> None:
    ledger, rpc = served
    for method in ("eth_call", "eth_estimateGas"):
        error = rpc.error(method, {"data": INVALID})
        assert error["code"] == -32000
        assert "InvalidInstruction" in error["message"]
    _still_serves(ledger, rpc)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_call", [{"to": "0x1234"}]),
        ("eth_call", [{"to": 12}]),
        ("eth_call", [{"from": "0x" + "zz" * 20, "data": ANSWER_42}]),
        ("eth_call", [{"data": ANSWER_42, "gas": "lots"}]),
        ("eth_call", [{"data": ANSWER_42, "gas": "-0x1"}]),
        ("eth_call", [{"data": ANSWER_42, "value": hex(2**256)}]),
        ("eth_call", [{"data": "0xzz"}]),
        ("eth_call", ["0x" + "11" * 20]),
        ("eth_call", [[{"data": ANSWER_42}]]),
        ("eth_call", [{"data": ANSWER_42}, {"blockNumber": 1}]),
        ("eth_estimateGas", [{"to": "not an address"}]),
        ("eth_estimateGas", [{"data": ANSWER_42, "gas": True}]),
        ("eth_estimateGas", [{"data": ANSWER_42, "gas": 1.5}]),
        ("eth_getBalance", ["0x12"]),
        ("eth_getBalance", [None]),
        ("eth_getCode", [SOMEONE, "0x" + "f" * 100]),
        ("eth_getStorageAt", [SOMEONE, "slot"]),
        ("eth_getTransactionCount", [["x"]]),
        ("eth_getLogs", [{"address": "0x12"}]),
        ("eth_getLogs", ["latest"]),
        ("eth_getLogs", [{"fromBlock": ["0x0"]}]),
    ],
)
def test_malformed_params_are_invalid_params_errors(
    served: tuple[EmbeddedLedger, Rpc], method: str, params: list[Any]
) -> None:
    _, rpc = served
    assert rpc.error(method, *params)["code"] == -32602
    assert int(rpc.result("eth_call", {"data": ANSWER_42}), 16) == 42


def test_blocks_are_built_without_the_deadline_checks() -> None:
    """The deadline is the read chain's only: no block depends on a clock."""
    jump = 0x56
    assert type(ScfCallComputation.opcodes[jump]).__name__ == "_Checkpoint"
    assert type(ScfPragueComputation.opcodes[jump]).__name__ != "_Checkpoint"
