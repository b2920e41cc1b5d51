"""Revert data becomes the custom error's name and arguments, from the ABIs alone."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak

from chain.revert import decode_revert


def _data(signature: str, types: list[str], values: list[object]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, values)


def test_custom_error_with_arguments() -> None:
    role = keccak(text="SUPPLIER")
    account = "0x" + "ab" * 20
    error = decode_revert(
        _data("MemberUnauthorizedAccount(address,bytes32)", ["address", "bytes32"], [account, role])
    )
    assert error.error_name == "MemberUnauthorizedAccount"
    assert error.error_args["account"].lower() == account
    assert error.error_args["role"] == role
    assert error.details["args"]["role"] == "0x" + role.hex()
    assert error.code == "contract_revert"  # its HTTP status: tests/api/test_error_statuses.py


def test_error_string_and_panic() -> None:
    assert decode_revert(_data("Error(string)", ["string"], ["boom"])).error_args == {
        "message": "boom"
    }
    assert decode_revert(_data("Panic(uint256)", ["uint256"], [0x11])).error_args == {"code": 0x11}


def test_unknown_selector_and_empty_data() -> None:
    unknown = decode_revert(b"\xde\xad\xbe\xef" + b"\x00" * 32)
    assert unknown.error_name == "UnknownError"
    assert decode_revert(b"").error_name == "EmptyRevert"


def test_malformed_payload_of_a_known_error_keeps_the_name() -> None:
    data = function_signature_to_4byte_selector("MemberNotFound(uint256)") + b"\x01"
    assert decode_revert(data).error_name == "MemberNotFound"
