"""Logs decoded by ``chain.event_codec`` give exactly web3.py's event arguments: every event
of every contract, random arguments, formatted and raw logs, and through
``ContractHandle.event_args`` on a receipt as web3.py formats it and on one not formatted."""

from __future__ import annotations

from typing import Any, cast

import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3._utils.events import get_event_data
from web3.types import TxReceipt

from chain.artifacts import all_artifacts
from chain.backends.receipts import LazyReceipt, format_receipt
from chain.contract import ContractHandle
from chain.event_codec import _is_hashed_when_indexed, event_specs
from chain.ledger import Ledger
from chain.revert import abi_type_of
from tests.chain.abi_values import abi_values

ADDRESS = "0x" + "22" * 20
CODEC = Web3().codec
EVENTS = [
    (artifact, item)
    for artifact in all_artifacts()
    for item in artifact.abi
    if item["type"] == "event" and not item.get("anonymous")
]


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(abi_type_of(i) for i in item['inputs'])})"


@st.composite
def _logs(draw: st.DrawFn) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(artifact, event ABI, a raw JSON-RPC log of it with random arguments)."""
    artifact, item = draw(st.sampled_from(EVENTS))
    topics = [keccak(text=_signature(item))]
    plain_types, plain_values = [], []
    for field in item["inputs"]:
        kind = abi_type_of(field)
        if not field["indexed"]:
            plain_types.append(kind)
            plain_values.append(draw(abi_values(kind)))
        elif _is_hashed_when_indexed(kind):
            topics.append(draw(st.binary(min_size=32, max_size=32)))
        else:
            topics.append(abi_encode([kind], [draw(abi_values(kind))]))
    return artifact, item, _log(ADDRESS, topics, abi_encode(plain_types, plain_values))


def _log(address: str, topics: list[bytes], data: bytes) -> dict[str, Any]:
    """A log as the node's JSON-RPC sends it (hex strings)."""
    return {
        "address": address,
        "topics": ["0x" + t.hex() for t in topics],
        "data": "0x" + data.hex(),
        "blockNumber": "0x1f",
        "blockHash": "0x" + "33" * 32,
        "logIndex": "0x0",
        "transactionHash": "0x" + "44" * 32,
        "transactionIndex": "0x0",
        "removed": False,
    }


def _receipt(log: dict[str, Any]) -> dict[str, Any]:
    return {
        "blockHash": log["blockHash"],
        "blockNumber": log["blockNumber"],
        "contractAddress": None,
        "cumulativeGasUsed": "0x5208",
        "effectiveGasPrice": "0x0",
        "from": "0x" + "55" * 20,
        "gasUsed": "0x5208",
        "logs": [log],
        "logsBloom": "0x" + "00" * 256,
        "status": "0x1",
        "to": ADDRESS,
        "transactionHash": log["transactionHash"],
        "transactionIndex": "0x0",
        "type": "0x2",
    }


@settings(max_examples=300, deadline=None)
@given(_logs())
def test_every_event_decodes_as_web3_decodes_it(found: Any) -> None:
    artifact, item, raw_log = found
    receipt = format_receipt(_receipt(raw_log))
    expected = dict(get_event_data(CODEC, item, receipt["logs"][0])["args"])
    spec = event_specs(artifact.abi)[keccak(text=_signature(item))]
    formatted = receipt["logs"][0]
    assert spec.decode([bytes(t) for t in formatted["topics"]], bytes(formatted["data"])) == (
        expected
    )
    handle = ContractHandle(cast(Ledger, None), artifact, ADDRESS)
    assert handle.event_args(cast(TxReceipt, receipt), item["name"]) == expected
    lazy = LazyReceipt(_receipt(raw_log))
    assert handle.event_args(cast(TxReceipt, lazy), item["name"]) == expected
    assert lazy.raw_logs is not None, "decoding read the raw logs, it did not format them"


def test_event_args_counts_only_the_contracts_own_events() -> None:
    artifact, item = next((a, i) for a, i in EVENTS if not any(f["indexed"] for f in i["inputs"]))
    data = abi_encode([abi_type_of(f) for f in item["inputs"]], [0] * len(item["inputs"]))
    # another contract's event of the same signature
    log = _log("0x" + "66" * 20, [keccak(text=_signature(item))], data)
    handle = ContractHandle(cast(Ledger, None), artifact, ADDRESS)
    with pytest.raises(LookupError, match="found 0"):
        handle.event_args(cast(TxReceipt, LazyReceipt(_receipt(log))), item["name"])


def test_cheap_receipt_fields_equal_the_formatted_ones() -> None:
    raw = _receipt(_log(ADDRESS, [], b""))
    lazy, formatted = LazyReceipt(raw), format_receipt(raw)
    for field in ("status", "blockNumber", "transactionHash"):
        assert lazy[field] == formatted[field]
        assert type(lazy[field]) is type(formatted[field])
    assert lazy.raw_logs is not None  # nothing formatted yet
    assert lazy == formatted
    assert lazy.raw_logs is None  # formatted now: its fields are web3.py's
