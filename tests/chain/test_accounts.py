"""Signing: the fast EIP-1559 path signs exactly what eth-account signs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.accounts import Signer

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
SIGNER = Signer.from_key(KEY)

uint = st.integers(min_value=0, max_value=2**64)
address = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
to = st.one_of(st.none(), address.map(to_checksum_address))


def _eth_account(tx: dict[str, Any]) -> tuple[bytes, bytes]:
    fields = {k: v for k, v in tx.items() if not (k == "to" and v is None)}
    signed = Account.sign_transaction(fields, KEY)
    return bytes(signed.raw_transaction), bytes(signed.hash)


@settings(max_examples=200, deadline=None)
@given(
    nonce=uint,
    chain_id=st.integers(min_value=1, max_value=2**32),
    gas=st.integers(min_value=21_000, max_value=2**40),
    max_fee=uint,
    tip=uint,
    value=st.integers(min_value=0, max_value=2**200),
    data=st.binary(max_size=300),
    to=to,
)
def test_eip1559_transactions_are_signed_byte_for_byte_like_eth_account(
    nonce: int,
    chain_id: int,
    gas: int,
    max_fee: int,
    tip: int,
    value: int,
    data: bytes,
    to: str | None,
) -> None:
    tx = {
        "nonce": nonce,
        "chainId": chain_id,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "value": value,
        "data": data,
        "to": to,
    }
    assert SIGNER.sign_transaction(tx) == _eth_account(tx)


BASE = {"nonce": 3, "chainId": 8_888, "gas": 50_000, "value": 7, "data": b"\x01\x02"}
TO = to_checksum_address("0x" + "ab" * 20)


@pytest.mark.parametrize(
    "tx",
    [
        {**BASE, "to": TO, "gasPrice": 5},  # legacy
        {**BASE, "to": TO, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1, "accessList": []},
        {**BASE, "to": TO, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1, "data": "0x0102"},
        {**BASE, "to": TO, "maxFeePerGas": "0x2", "maxPriorityFeePerGas": 1},
        {**BASE, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1, "type": 2},
    ],
    ids=["legacy", "access-list", "hex-data", "hex-fee", "explicit-type"],
)
def test_other_transaction_forms_are_signed_by_eth_account(tx: dict[str, Any]) -> None:
    assert SIGNER.sign_transaction(tx) == _eth_account(tx)


def _refusal(sign: Callable[[dict[str, Any]], object], tx: dict[str, Any]) -> type[Exception]:
    with pytest.raises(Exception) as info:  # noqa: PT011 - compared with eth-account's below
        sign(tx)
    return info.type


@pytest.mark.parametrize(
    "bad",
    [
        {"to": "0x" + TO[2:].swapcase()},  # wrong checksum
        {"to": TO.lower()},
        {"to": "0x1234"},
        {"nonce": -1},
        {"gas": "lots"},
    ],
    ids=["wrong-checksum", "lower-case", "short-address", "negative-nonce", "text-gas"],
)
def test_invalid_fields_are_refused_as_eth_account_refuses_them(bad: dict[str, Any]) -> None:
    tx = {**BASE, "to": TO, "maxFeePerGas": 2, "maxPriorityFeePerGas": 1, **bad}
    assert _refusal(SIGNER.sign_transaction, tx) is _refusal(_eth_account, tx)
