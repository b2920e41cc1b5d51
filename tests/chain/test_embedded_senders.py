"""The node's sender recovery gives py-evm's answer: the same address for every valid
signature, a refusal for every broken one, and py-evm's ``tx.sender`` reads it back."""

from __future__ import annotations

from typing import Any

import pytest
from eth.abc import SignedTransactionAPI
from eth_account import Account
from eth_keys.constants import SECPK1_N
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.embedded.senders import InvalidSignature, recover_sender
from chain.embedded.vm import ScfPragueVM

BUILDER = ScfPragueVM.get_transaction_builder()
KEY = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ACCOUNT = Account.from_key(bytes.fromhex(KEY))
SENDER = bytes.fromhex(ACCOUNT.address[2:])

uint = st.integers(min_value=0, max_value=2**64)
to = st.one_of(st.none(), st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()))
access_list = st.lists(
    st.fixed_dictionaries(
        {
            "address": st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
            "storageKeys": st.lists(
                st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()), max_size=2
            ),
        }
    ),
    max_size=2,
)


def _signed(fields: dict[str, Any]) -> bytes:
    tx = {k: v for k, v in fields.items() if v is not None}
    if "to" in tx:
        tx["to"] = to_checksum_address(tx["to"])
    return bytes(ACCOUNT.sign_transaction(tx).raw_transaction)


def _py_evm_sender(raw: bytes) -> bytes | type[Exception]:
    try:
        return bytes(BUILDER.decode(raw).sender)
    except Exception:
        return Exception


def _ours(tx: SignedTransactionAPI) -> bytes | type[Exception]:
    try:
        return recover_sender(tx)
    except InvalidSignature:
        return Exception


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["dynamic-fee", "access-list"]),
    nonce=uint,
    chain_id=st.integers(min_value=1, max_value=2**32),
    gas=st.integers(min_value=21_000, max_value=2**40),
    fee=uint,
    value=st.integers(min_value=0, max_value=2**200),
    data=st.binary(max_size=200),
    to=to,
    access=access_list,
)
def test_valid_signatures_recover_the_signer_as_py_evm_does(
    kind: str,
    nonce: int,
    chain_id: int,
    gas: int,
    fee: int,
    value: int,
    data: bytes,
    to: str | None,
    access: list[dict[str, Any]],
) -> None:
    fields: dict[str, Any] = {
        "nonce": nonce,
        "chainId": chain_id,
        "gas": gas,
        "value": value,
        "data": data,
        "to": to,
        "accessList": access,
    }
    if kind == "dynamic-fee":
        fields |= {"maxFeePerGas": fee, "maxPriorityFeePerGas": fee // 2}
    else:
        fields |= {"gasPrice": fee}
    raw = _signed(fields)
    tx = BUILDER.decode(raw)
    assert recover_sender(tx) == SENDER == _py_evm_sender(raw)
    assert tx.sender == SENDER  # py-evm reads the recovered sender back


RAW = _signed(
    {"nonce": 1, "chainId": 8_888, "gas": 50_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
)


@pytest.mark.parametrize(
    "change",
    [
        {"y_parity": 2},
        {"y_parity": 2, "r": 2},  # libsecp256k1 would recover a key with recovery id 2
        {"y_parity": 27},
        {"r": 0},
        {"s": 0},
        {"r": SECPK1_N},
        {"s": SECPK1_N + 5},
        {"r": 2**256 + 1},
        {"r": 12345},  # in range, but no point on the curve has this x
        {"s": SECPK1_N - 1},  # a high s: recovers some key, as py-evm's does
        {"y_parity": 1},  # the other parity: another key
    ],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_broken_signatures_are_refused_or_recovered_exactly_as_py_evm_does(
    change: dict[str, int],
) -> None:
    changed = BUILDER.decode(RAW).copy(**change)
    raw = changed.encode()
    assert _ours(BUILDER.decode(raw)) == _py_evm_sender(raw)


def test_legacy_transactions_keep_py_evm_s_recovery() -> None:
    raw = _signed({"nonce": 1, "chainId": 8_888, "gas": 50_000, "gasPrice": 1, "to": None})
    legacy = BUILDER.decode(raw)
    assert legacy.type_id is None
    assert recover_sender(legacy) == SENDER
