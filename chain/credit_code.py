"""China's unified social credit code (统一社会信用代码, GB 32100-2015).

18 characters from a 31-character alphabet (digits and upper-case letters
without I, O, S, V, Z). Positions 3-8 are the administrative-division code
(digits). The 18th is a check character: with the weights below,
``check = (31 - sum(value_i * weight_i) mod 31) mod 31``.
Only the keccak-256 of the validated code goes on chain.
"""

from __future__ import annotations

import unicodedata

from chain.errors import ScfError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}


class InvalidCreditCode(ScfError):
    code = "invalid_credit_code"


def normalize_credit_code(raw: str) -> str:
    """Fold full-width characters, drop whitespace, upper-case."""
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(folded.split()).upper()


def check_character(first17: str) -> str:
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(raw: str) -> str:
    """The normalized code, or ``InvalidCreditCode`` saying exactly what is wrong."""
    code = normalize_credit_code(raw)
    if len(code) != 18:
        raise InvalidCreditCode(
            f"a unified social credit code has 18 characters, got {len(code)}",
            details={"credit_code": raw},
        )
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        raise InvalidCreditCode(
            f"characters not allowed in a unified social credit code: {''.join(bad)}",
            details={"credit_code": raw, "invalid_characters": bad},
        )
    if not code[2:8].isdigit():
        raise InvalidCreditCode(
            "positions 3-8 (administrative division) must be digits",
            details={"credit_code": raw},
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidCreditCode(
            f"check character is {code[17]!r} but should be {expected!r}",
            details={"credit_code": raw, "expected_check": expected},
        )
    return code


def credit_code_hash(raw: str) -> bytes:
    """keccak-256 of the validated, normalized code: what MemberRegistry stores."""
    from eth_utils.crypto import keccak  # here: the command line starts without eth_utils

    return keccak(text=validate_credit_code(raw))


def make_credit_code(prefix17: str) -> str:
    """Complete 17 valid characters with their check character (test data, demo data)."""
    return prefix17 + check_character(prefix17)
