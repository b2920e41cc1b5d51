"""chain/invoice_key.py: normalization rules and the key InvoiceRegistry stores."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.credit_code import InvalidCreditCode
from chain.invoice_key import (
    MAX_FIELD_LENGTH,
    InvalidInvoiceField,
    invoice_key,
    normalize_field,
    normalize_invoice,
)

SELLER = "91350100M000100Y43"


def test_the_key_is_keccak_of_the_abi_encoded_normalized_parts() -> None:
    expected = keccak(encode(["string", "string", "string"], [SELLER, "3100231130", "00012345"]))
    assert invoice_key(SELLER, "3100231130", "00012345") == expected
    assert len(expected) == 32


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("３１００２３１１３０", "3100231130"),  # full-width digits
        ("ａｂｃ１２", "ABC12"),  # full-width lower-case letters
        ("ab c12", "ABC12"),  # case and a space
        ("\t31 00\u300023\n1130 ", "3100231130"),  # tab, ideographic space, newline
        ("3100\u00a0231130", "3100231130"),  # no-break space
        ("3100\u200b2311\ufeff30", "3100231130"),  # zero-width characters
    ],
)
def test_fields_are_normalized(raw: str, normalized: str) -> None:
    assert normalize_field(raw) == normalized


def test_the_same_invoice_typed_differently_has_one_key() -> None:
    plain = invoice_key(SELLER, "3100231130", "00012345")
    assert (
        invoice_key(" ９１３５０１００ｍ０００１００ｙ４３ ", "3100 2311 30", "０００１２３４５")
        == plain
    )
    assert invoice_key(SELLER.lower(), "\u30003100231130", "0001 2345\n") == plain


def test_different_invoices_have_different_keys() -> None:
    base = invoice_key(SELLER, "3100231130", "00012345")
    assert invoice_key(SELLER, "3100231130", "00012346") != base
    assert invoice_key(SELLER, "3100231131", "00012345") != base
    assert invoice_key("91110000600037341L", "3100231130", "00012345") != base
    # where one part ends and the next begins matters
    assert invoice_key(SELLER, "12", "3") != invoice_key(SELLER, "1", "23")


def test_an_invoice_code_may_be_empty_but_not_the_number() -> None:
    # fully digital e-invoices (全电发票) have a 20-digit number and no code
    identity = normalize_invoice(SELLER, "", "24312000000012345678")
    assert (identity.invoice_code, identity.invoice_number) == ("", "24312000000012345678")
    with pytest.raises(InvalidInvoiceField, match="invoice number is empty"):
        normalize_invoice(SELLER, "3100231130", " \u3000 ")


@pytest.mark.parametrize(
    ("code", "number", "message"),
    [
        ("3100-231130", "1", "only letters and digits"),
        ("3100231130", "No.12", "only letters and digits"),
        ("3100231130", "发票12", "only letters and digits"),
        ("1" * (MAX_FIELD_LENGTH + 1), "1", "at most"),
    ],
)
def test_other_characters_and_overlong_fields_are_refused(
    code: str, number: str, message: str
) -> None:
    with pytest.raises(InvalidInvoiceField, match=message) as info:
        normalize_invoice(SELLER, code, number)
    assert info.value.code == "invalid_invoice_field"
    assert info.value.http_status == 422


def test_the_seller_credit_code_must_be_valid() -> None:
    with pytest.raises(InvalidCreditCode):
        invoice_key("91350100M000100Y44", "3100231130", "1")  # wrong check character


alnum = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", max_size=20)
noise = st.sampled_from([" ", "\t", "\n", "\u3000", "\u00a0", "\u200b", "\ufeff"])


def full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


@given(alnum, st.lists(st.tuples(st.integers(0, 20), noise), max_size=5), st.booleans())
def test_typing_variations_never_change_the_key(
    number: str, insertions: list[tuple[int, str]], wide: bool
) -> None:
    typed = full_width(number) if wide else number.swapcase()
    for position, ch in insertions:
        typed = typed[:position] + ch + typed[position:]
    canonical = number.upper() or "0"
    typed = typed if number else "0"
    assert normalize_field(typed) == canonical
    assert invoice_key(SELLER, "", typed) == invoice_key(SELLER, "", canonical)


@given(st.text(max_size=30))
def test_normalization_is_idempotent(raw: str) -> None:
    once = normalize_field(raw)
    assert normalize_field(once) == once
