"""FinancingHub.quote against chain/pricing.py, differentially: the same terms, the same
price and discount (or both refuse), over random terms and the terms where rounding is
decided (a whole discount, and one fen of amount either side of it)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.deploy import Consortium
from chain.errors import ContractRevert
from chain.pricing import MAX_RATE_BPS, PricingError, quote
from tests.chain.test_pricing import whole_discount_terms

REFUSALS = {"FinancingInvalidRate", "FinancingDiscountExceedsAmount"}

random_terms = st.tuples(
    st.one_of(st.integers(1, 10**12), st.integers(1, 2**128 - 1)),
    st.integers(0, MAX_RATE_BPS + 50),
    st.integers(0, 800),
)


def _agree(consortium: Consortium, amount: int, rate: int, days: int) -> None:
    hub = consortium.financing
    try:
        expected = quote(amount, rate, days)
    except PricingError:
        with pytest.raises(ContractRevert) as info:
            hub.call("quote", amount, rate, days)
        assert info.value.error_name in REFUSALS
        return
    assert hub.call("quote", amount, rate, days) == (expected.price, expected.discount)


def test_a_whole_discount_is_not_rounded_up(consortium: Consortium) -> None:
    # 3 500.00 at 0.73 % for one day: exactly 0.07
    assert consortium.financing.call("quote", 3_500_00, 73, 1) == (3_499_93, 7)
    assert quote(3_500_00, 73, 1).discount == 7


def test_the_contract_and_the_reference_agree_on_every_quote(consortium: Consortium) -> None:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(random_terms, whole_discount_terms()))
    def check(terms: tuple[int, int, int]) -> None:
        _agree(consortium, *terms)

    check()
