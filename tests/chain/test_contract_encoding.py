"""ContractHandle.encode's direct path gives exactly web3.py's calldata, or defers to it."""

from __future__ import annotations

from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.exceptions import MismatchedABI, Web3ValidationError

from chain.artifacts import all_artifacts
from chain.contract import ContractHandle
from chain.ledger import Ledger
from chain.revert import abi_type_of

ADDRESS = "0x" + "11" * 20


def _handles() -> list[ContractHandle]:
    return [
        ContractHandle(cast(Ledger, None), artifact, ADDRESS)
        for artifact in all_artifacts()
        if any(item["type"] == "function" for item in artifact.abi)
    ]


def _value(abi_type: str) -> st.SearchStrategy[Any]:
    """Values of one canonical ABI type, as callers pass them (tuples for structs)."""
    if abi_type.endswith("]"):
        inner, _, size = abi_type[:-1].rpartition("[")
        item = _value(inner)
        if size:
            return st.lists(item, min_size=int(size), max_size=int(size))
        return st.lists(item, max_size=3)
    if abi_type.startswith("("):
        return st.tuples(*(_value(t) for t in _split(abi_type[1:-1])))
    if abi_type.startswith("uint"):
        return st.integers(0, 2 ** int(abi_type[4:] or 256) - 1)
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address)
    if abi_type == "bool":
        return st.booleans()
    if abi_type == "string":
        return st.text(max_size=40)
    if abi_type == "bytes":
        return st.binary(max_size=70)
    if abi_type.startswith("bytes"):
        length = int(abi_type[5:])
        return st.binary(min_size=length, max_size=length)
    raise AssertionError(f"no strategy for {abi_type}")


def _split(types: str) -> list[str]:
    """Top-level components of a tuple's type list."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(types):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(types[start:i])
            start = i + 1
    return [*parts, types[start:]] if types else []


@st.composite
def _calls(draw: st.DrawFn) -> tuple[ContractHandle, str, list[Any]]:
    handle = draw(st.sampled_from(_handles()))
    functions = [item for item in handle.artifact.abi if item["type"] == "function"]
    function = draw(st.sampled_from(functions))
    args = [draw(_value(abi_type_of(i))) for i in function["inputs"]]
    return handle, function["name"], args


def _web3_calldata(handle: ContractHandle, name: str, args: list[Any]) -> bytes:
    encoded: str = handle._contract.encode_abi(name, args=args)
    return bytes.fromhex(encoded.removeprefix("0x"))


@settings(max_examples=300, deadline=None)
@given(_calls())
def test_calldata_is_web3s(call: tuple[ContractHandle, str, list[Any]]) -> None:
    handle, name, args = call
    assert handle.encode(name, *args) == _web3_calldata(handle, name, args)


def test_the_direct_path_serves_the_hot_writes() -> None:
    (certificates,) = [h for h in _handles() if h.artifact.name == "CreditCertificates"]
    assert "splitTransfer" in certificates._plain_functions
    assert certificates.encode("splitTransfer", 1, 2, 3)[:4].hex() == (
        _web3_calldata(certificates, "splitTransfer", [1, 2, 3])[:4].hex()
    )


def test_what_the_codec_refuses_goes_through_web3() -> None:
    (invoices,) = [h for h in _handles() if h.artifact.name == "InvoiceRegistry"]
    key = "0x" + "ab" * 32  # web3.py takes a hex string for bytes32; the codec alone does not
    assert invoices.encode("confirmInvoice", key) == invoices.encode(
        "confirmInvoice", bytes.fromhex("ab" * 32)
    )
    with pytest.raises((MismatchedABI, Web3ValidationError)):
        invoices.encode("confirmInvoice", b"short")  # web3.py's strict bytes32: exactly 32
    with pytest.raises((MismatchedABI, Web3ValidationError)):
        invoices.encode("confirmInvoice", 1, 2)
