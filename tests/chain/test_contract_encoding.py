"""ContractHandle.encode's direct path gives exactly web3.py's calldata, or defers to it."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.exceptions import MismatchedABI, Web3ValidationError

from chain.artifacts import all_artifacts
from chain.contract import ContractHandle
from chain.ledger import Ledger
from chain.revert import abi_type_of
from tests.chain.abi_values import abi_values

ADDRESS = "0x" + "11" * 20


@cache  # one handle per contract for the whole module: every example draws from them
def _handles() -> list[ContractHandle]:
    return [
        ContractHandle(cast(Ledger, None), artifact, ADDRESS)
        for artifact in all_artifacts()
        if any(item["type"] == "function" for item in artifact.abi)
    ]


@st.composite
def _calls(draw: st.DrawFn) -> tuple[ContractHandle, str, list[Any]]:
    handle = draw(st.sampled_from(_handles()))
    functions = [item for item in handle.artifact.abi if item["type"] == "function"]
    function = draw(st.sampled_from(functions))
    args = [draw(abi_values(abi_type_of(i))) for i in function["inputs"]]
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
