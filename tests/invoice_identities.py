"""Hypothesis strategies for invoice identities, shared by the chain and contract tests."""

from __future__ import annotations

import re

from hypothesis import strategies as st

SELLER = "91350100M000100Y43"

_CANONICAL = re.compile(r"(?:[0-9]{10}|[0-9]{12})\x00[0-9]{8}|\x00[0-9]{20}", re.ASCII)


def is_canonical_by_regex(code: str, number: str) -> bool:
    """The rule written a second, independent way: one regular expression."""
    return _CANONICAL.fullmatch(f"{code}\x00{number}") is not None


def _digits(length: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=length, max_size=length)


# near misses: digits of nearly the right length, the characters people and tools slip in
_near_digits = st.text(
    st.sampled_from("0123456789") | st.sampled_from(" -A\u3000\uff11\u0661\u200b\t"),
    max_size=24,
)
any_text = st.one_of(
    _digits(8), _digits(10), _digits(12), _digits(20), _near_digits, st.text(max_size=24)
)

sellers = st.one_of(st.binary(min_size=32, max_size=32), st.sampled_from([b"\1" * 32, b"\2" * 32]))
vat_identities = st.tuples(sellers, st.one_of(_digits(10), _digits(12)), _digits(8))
digital_identities = st.tuples(sellers, st.just(""), _digits(20))
canonical_identities = st.one_of(
    vat_identities,
    digital_identities,
    # few distinct values, so that equal invoices are drawn often enough
    st.tuples(
        st.sampled_from([b"\1" * 32, b"\2" * 32]),
        st.sampled_from(["", "3100231130", "310023113000"]),
        st.sampled_from(["00000001", "00000002", "31002311300000000001"]),
    ).filter(lambda t: is_canonical_by_regex(t[1], t[2])),
)
