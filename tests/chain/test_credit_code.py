"""GB 32100-2015 unified social credit codes: validation, normalization, hashing."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.credit_code import (
    ALPHABET,
    InvalidCreditCode,
    credit_code_hash,
    make_credit_code,
    validate_credit_code,
)

# Published codes of real companies (Bank of China and Ping An Bank head offices' style).
KNOWN_VALID = ["91350100M000100Y43", "91110000600037341L", "91440300708461136T"]

body = st.tuples(
    st.text(ALPHABET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(ALPHABET, min_size=9, max_size=9),
).map("".join)


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_codes_validate(code: str) -> None:
    assert validate_credit_code(code) == code


def test_full_width_lower_case_and_spaces_are_normalized() -> None:
    fancy = " ９１３５０１００ｍ０００１００ｙ４３ "
    assert validate_credit_code(fancy) == "91350100M000100Y43"
    assert credit_code_hash(fancy) == keccak(text="91350100M000100Y43")


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y4", "18 characters, got 17"),
        ("91350100M000100Y433", "18 characters, got 19"),
        ("91350100M000100I43", "not allowed.*I"),
        ("91350100O000100Y43", "not allowed.*O"),
        ("91A50100M000100Y43", "positions 3-8"),
        ("91350100M000100Y44", "check character is '4' but should be '3'"),
    ],
)
def test_invalid_codes_say_what_is_wrong(code: str, problem: str) -> None:
    with pytest.raises(InvalidCreditCode, match=problem):
        validate_credit_code(code)


@given(body)
def test_generated_codes_validate(prefix: str) -> None:
    assert validate_credit_code(make_credit_code(prefix)) == make_credit_code(prefix)


@given(body, st.integers(0, 16), st.sampled_from(ALPHABET))
def test_any_single_substitution_is_caught(prefix: str, position: int, replacement: str) -> None:
    code = make_credit_code(prefix)
    if code[position] == replacement or (2 <= position < 8 and not replacement.isdigit()):
        return
    tampered = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(InvalidCreditCode, match="check character"):
        validate_credit_code(tampered)
