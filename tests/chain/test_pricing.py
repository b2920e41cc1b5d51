"""chain/pricing.py: the Decimal reference of FinancingHub's discount pricing.

The contract is compared with this reference in tests/contracts/test_financing.py; here the
reference itself is checked against exact rational arithmetic and hand-computed examples.
"""

from __future__ import annotations

from fractions import Fraction
from math import ceil, gcd

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.pricing import (
    MAX_RATE_BPS,
    SECONDS_PER_DAY,
    PricingError,
    Quote,
    days_to_maturity,
    quote,
    quote_at,
)

DAY = SECONDS_PER_DAY


@pytest.mark.parametrize(
    ("maturity", "at", "days"),
    [
        (100 * DAY, 0, 100),
        (100 * DAY, 1, 100),  # 99 days and 86 399 s: a started day counts
        (100 * DAY, DAY - 1, 100),
        (100 * DAY, DAY, 99),
        (100 * DAY, 100 * DAY - 1, 1),
        (100 * DAY, 100 * DAY, 0),
        (100 * DAY, 200 * DAY, 0),
    ],
)
def test_days_to_maturity_counts_started_days(maturity: int, at: int, days: int) -> None:
    assert days_to_maturity(maturity, at) == days


def test_a_hand_computed_quote() -> None:
    # 200 000.00 at 4.35 % for 150 days: 3 575.342... rounds up to 3 575.35
    assert quote(200_000_00, 435, 150) == Quote(200_000_00, 435, 150, 3_575_35, 196_424_65)


@pytest.mark.parametrize(
    ("amount", "rate", "days", "discount"),
    [
        (100_000_00, 365, 1, 10_00),  # exact: no rounding
        (1_00, 1, 1, 1),  # 0.0000274 fen -> 1 fen
        (1_000_000_00, 0, 365, 0),  # at par
        (1_000_00, MAX_RATE_BPS, 364, 997_27),  # 997.260... -> 997.27
        (3_500_00, 73, 1, 7),  # exactly 7 fen: a whole discount is not rounded up
        (3_650_000, 1, 1, 1),  # exactly 1 fen
        (3_650_001, 1, 1, 2),  # 1.0000003 fen -> 2
    ],
)
def test_rounding_favours_the_financier(amount: int, rate: int, days: int, discount: int) -> None:
    result = quote(amount, rate, days)
    assert (result.discount, result.price) == (discount, amount - discount)


@pytest.mark.parametrize(
    ("amount", "rate", "days"),
    [
        (0, 100, 10),
        (-5, 100, 10),
        (100, -1, 10),
        (100, MAX_RATE_BPS + 1, 10),
        (100, 100, -1),
        (1, 100, 1),  # the discount rounds up to the whole amount
        (1_000_00, MAX_RATE_BPS, 365),  # a year at 100 % takes everything
    ],
)
def test_terms_that_cannot_be_priced_are_refused(amount: int, rate: int, days: int) -> None:
    with pytest.raises(PricingError) as info:
        quote(amount, rate, days)
    assert info.value.code == "invalid_pricing"


def test_quote_at_uses_the_time_to_maturity() -> None:
    assert quote_at(1_000_00, 500, 30 * DAY + 5, 5) == quote(1_000_00, 500, 30)
    assert quote_at(1_000_00, 500, 30 * DAY + 5, 4) == quote(1_000_00, 500, 31)


amounts = st.integers(1, 2**128 - 1)
rates = st.integers(0, MAX_RATE_BPS)
days = st.integers(0, 1000)
YEAR_IN_BPS_DAYS = 10_000 * 365  # the discount is amount * rate * days / this


@st.composite
def whole_discount_terms(draw: st.DrawFn) -> tuple[int, int, int]:
    """(amount, rate, days) whose exact discount is a whole number of fen, or one fen of
    amount away from it: where rounding up must not, or must just, add a fen. Random
    terms almost never hit them."""
    rate, n = draw(st.integers(1, MAX_RATE_BPS)), draw(st.integers(1, 1000))
    step = YEAR_IN_BPS_DAYS // gcd(rate * n, YEAR_IN_BPS_DAYS)  # amounts in steps of it
    amount = step * draw(st.integers(1, (2**128 - 2) // step)) + draw(st.sampled_from([0, 1, -1]))
    return amount, rate, n


@given(st.one_of(st.tuples(amounts, rates, days), whole_discount_terms()))
def test_the_reference_equals_exact_rational_arithmetic(terms: tuple[int, int, int]) -> None:
    amount, rate, n = terms
    exact = Fraction(amount) * Fraction(rate, 10_000) * Fraction(n, 365)
    try:
        result = quote(amount, rate, n)
    except PricingError:
        assert ceil(exact) >= amount
        return
    assert result.discount == ceil(exact)
    # the price is the exact price rounded down: never above it, less than a fen below
    assert result.price <= amount - exact < result.price + 1


@given(amounts, rates, st.integers(0, 365), st.integers(0, 365))
def test_more_days_never_raise_the_price(amount: int, rate: int, a: int, b: int) -> None:
    short, long = sorted((a, b))
    try:
        far = quote(amount, rate, long).price
    except PricingError:
        return
    assert quote(amount, rate, short).price >= far
