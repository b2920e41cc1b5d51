"""The ledger's JSON-RPC against a real node started with ``--host 0.0.0.0``: ``--host``
once bound JSON-RPC and REST alike, and the JSON-RPC (which reads every holder and value
past the API's rights) answered anyone who reached the REST port's address. Now it stays
on loopback unless ``--rpc-host`` says otherwise, and there it needs no token. A call
looping at the block gas limit once ran ~9 minutes of the ledger's CPU: it now ends at
the call gas cap with an error object, and the node serves reads and writes after it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY
from chain.backends.scf_node import ScfNodeLedger
from chain.embedded.calls import DEFAULT_MAX_CALL_GAS, DEFAULT_MAX_CALL_SECONDS
from nodes.runtime.dev_node import ChildNode, dev_node
from tests.security.node import declared_post

OTHER_LOOPBACK = "127.0.0.2"  # reaches a wildcard listener, not one bound to 127.0.0.1
LOOP = "0x5b600056"  # initcode: JUMPDEST PUSH1 0 JUMP, for ever
BLOCK_GAS_LIMIT = 10**9
TIMED_OUT = f"execution aborted (timeout = {DEFAULT_MAX_CALL_SECONDS:g}s)"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exposure") / "home"


@pytest.fixture(scope="module")
def node(home: Path) -> Iterator[ChildNode]:
    with dev_node(home, home.parent / "node.log", options=["--host", "0.0.0.0"]) as running:
        yield running


def _rpc(url: str, method: str, *params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = httpx.post(url, json=body, timeout=120)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def test_json_rpc_stays_on_loopback_when_rest_listens_everywhere(node: ChildNode) -> None:
    rest = httpx.get(f"http://{OTHER_LOOPBACK}:{_port(node.api_url)}/healthz", timeout=10)
    assert rest.status_code == 200  # REST took --host 0.0.0.0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((OTHER_LOOPBACK, _port(node.rpc_url)), timeout=10).close()
    # on loopback it needs no token
    assert _rpc(node.rpc_url, "eth_blockNumber")["result"].startswith("0x")


def test_a_looping_call_ends_with_an_error_and_the_node_serves_on(
    node: ChildNode, home: Path
) -> None:
    for method in ("eth_call", "eth_estimateGas"):
        for _ in range(2):
            error = _rpc(node.rpc_url, method, {"data": LOOP, "gas": hex(BLOCK_GAS_LIMIT)})
            assert error["error"]["code"] == -32000
            # ended by the call gas cap, or on a loaded machine by the 5 s deadline first
            message = error["error"]["message"]
            assert str(DEFAULT_MAX_CALL_GAS) in message or message == TIMED_OUT, message
    # malformed calls: error objects, on a connection that stays usable
    with httpx.Client(timeout=30) as client:
        for params in ([{"to": "0x12"}], [{"data": "0xzz"}], ["not a call"], [{"gas": "-1"}]):
            body = {"jsonrpc": "2.0", "id": 7, "method": "eth_call", "params": params}
            answer = client.post(node.rpc_url, json=body)
            assert answer.status_code == 200
            assert answer.json()["error"]["code"] == -32602
    # a normal call answers, and a write goes into a block
    assert _rpc(node.rpc_url, "eth_call", {"data": "0x602a60005260206000f3"})["result"] == (
        "0x" + "00" * 31 + "2a"
    )
    ledger = ScfNodeLedger(node.rpc_url)
    faucet = Signer.from_key(DEV_FAUCET_KEY)  # admitted on a --dev node
    tx = {"to": "0x" + "77" * 20, "value": 1, "chainId": ledger.chain_id, "gas": 21_000}
    tx |= {"nonce": ledger.get_transaction_count(faucet.address), **ledger.fee_params()}
    raw, tx_hash = faucet.sign_transaction(tx)
    ledger.send_raw_transaction(raw)
    assert ledger.wait_for_transaction_receipt(tx_hash, 60)["status"] == 1
    ledger.close()
    # and the REST API still reads
    key = (home / "operator-api-key").read_text().strip()
    me = httpx.get(
        f"{node.api_url}/v1/members/me", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert me.status_code == 200, me.text


def test_a_huge_declared_body_to_the_ledger_is_refused_unread(node: ChildNode) -> None:
    status, answer = declared_post(node.rpc_url, "/", 200 * 1024 * 1024)
    assert status == 413
    assert answer["error"]["code"] == -32600
    assert _rpc(node.rpc_url, "eth_blockNumber")["result"].startswith("0x")
