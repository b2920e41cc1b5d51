"""chain/invoice_key.py: the canonical invoice identity and the key InvoiceRegistry derives.

The same derivation on chain is checked against this module in
tests/contracts/test_invoice_identity.py.
"""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given

from chain.credit_code import credit_code_hash
from chain.invoice_key import (
    RULE,
    InvalidInvoiceIdentity,
    canonical_invoice,
    identity_problem,
    invoice_key,
)
from tests.invoice_identities import (
    SELLER,
    any_text,
    canonical_identities,
    is_canonical_by_regex,
)

SELLER_HASH = credit_code_hash(SELLER)


def test_the_key_is_keccak_of_the_abi_encoded_credit_code_hash_code_and_number() -> None:
    expected = keccak(
        encode(["bytes32", "string", "string"], [SELLER_HASH, "3100231130", "00012345"])
    )
    assert invoice_key(SELLER_HASH, "3100231130", "00012345") == expected


@pytest.mark.parametrize(
    ("code", "number", "kind"),
    [
        ("3100231130", "00012345", "vat"),  # 增值税专用发票: 10-digit code
        ("044031900111", "12345678", "vat"),  # 普通发票: 12-digit code
        ("", "24312000000012345678", "digital"),  # 数电发票: no code, 20 digits
    ],
)
def test_the_two_canonical_shapes_are_accepted(code: str, number: str, kind: str) -> None:
    identity = canonical_invoice(SELLER_HASH, code, number)
    assert (identity.invoice_code, identity.invoice_number, identity.kind) == (code, number, kind)


@pytest.mark.parametrize(
    ("code", "number", "problem"),
    [
        # the four spellings of invoice ("4403123400", "00000001") issue 21 reproduced
        ("4403123400", "000000001", "a VAT invoice_number has 8 digits, not 9"),
        ("", "4403123400000001", "fully digital e-invoice, whose invoice_number has 20"),
        ("044031234", "00000001", "a VAT invoice_code has 10 or 12 digits, not 9"),
        ("4403123400", " 00000001", "only the digits 0-9"),
        ("４４０３１２３４００", "00000001", "only the digits 0-9"),  # full-width
        ("4403123400", "0000000a", "only the digits 0-9"),
        ("4403123400", "0000\u200b0001", "only the digits 0-9"),  # zero width
        ("4403123400", "", "a VAT invoice_number has 8 digits, not 0"),
        ("", "", "whose invoice_number has 20 digits, not 0"),
        ("4403123400", "24312000000012345678", "a VAT invoice_number has 8 digits, not 20"),
    ],
)
def test_anything_else_is_refused_naming_the_rule(code: str, number: str, problem: str) -> None:
    with pytest.raises(InvalidInvoiceIdentity) as info:
        invoice_key(SELLER_HASH, code, number)
    error = info.value
    assert error.code == "invalid_invoice_identity"
    assert problem in error.message
    assert RULE in error.message
    assert error.details["rule"] == RULE
    assert (error.details["invoice_code"], error.details["invoice_number"]) == (code, number)


# ---- properties ---------------------------------------------------------------------------


@given(any_text, any_text)
def test_the_validator_accepts_exactly_the_two_shapes(code: str, number: str) -> None:
    assert (identity_problem(code, number) is None) == is_canonical_by_regex(code, number)


@given(canonical_identities, canonical_identities)
def test_one_invoice_one_key_and_different_invoices_different_keys(
    first: tuple[bytes, str, str], second: tuple[bytes, str, str]
) -> None:
    """An accepted input is its own canonical form, so "the same invoice" means equal
    (seller, code, number): equal keys exactly then (keccak-256 is taken as collision-free;
    the ABI encoding makes the mapping from inputs to preimages one-to-one)."""
    same_invoice = first == second
    assert (invoice_key(*first) == invoice_key(*second)) == same_invoice
    preimage = encode(["bytes32", "string", "string"], list(first))
    other = encode(["bytes32", "string", "string"], list(second))
    assert (preimage == other) == same_invoice


@given(canonical_identities)
def test_an_accepted_identity_is_kept_exactly_as_given(identity: tuple[bytes, str, str]) -> None:
    seller, code, number = identity
    canonical = canonical_invoice(seller, code, number)
    assert (canonical.seller_credit_code_hash, canonical.invoice_code) == (seller, code)
    assert canonical.invoice_number == number
