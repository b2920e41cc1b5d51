"""Discount pricing of financing requests: the Python ``Decimal`` reference of FinancingHub.

A financier buys ``amount`` (minor units, fen) of a certificate ``days`` whole days before its
maturity, at an annual discount rate of ``rate_bps`` basis points, simple interest, ACT/365::

    days     = ceil((maturity - approval_time) / 86 400)      a started day counts as a whole day
    discount = ceil(amount * rate_bps / 10 000 * days / 365)    rounded UP to the fen
    price    = amount - discount                              what the supplier receives

So the price is the exact ACT/365 price rounded DOWN to the fen: rounding favours the
financier, by less than one fen. ``FinancingHub.quote`` computes the same in integers
(``discount = ceil(amount * rate_bps * days / 3 650 000)``); the tests compare the two.

A rate above ``MAX_RATE_BPS`` (100 % a year) or a discount that would consume the whole amount
is refused, as the contract refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext

from chain.errors import ScfError

SECONDS_PER_DAY = 86_400
BPS = 10_000
DAYS_PER_YEAR = 365
MAX_RATE_BPS = 10_000

# Digits kept beyond the numerator's own in the one division (see ``quote``).
_GUARD_DIGITS = 20


class PricingError(ScfError):
    """A financing request cannot be priced with these terms."""

    code = "invalid_pricing"


@dataclass(frozen=True)
class Quote:
    """The outcome of pricing: all amounts in minor units."""

    amount: int
    rate_bps: int
    days: int
    discount: int
    price: int


def days_to_maturity(maturity: int, at: int) -> int:
    """Whole days from ``at`` to ``maturity`` (unix seconds), a started day counting as one."""
    if at >= maturity:
        return 0
    return -(-(maturity - at) // SECONDS_PER_DAY)


def quote(amount: int, rate_bps: int, days: int) -> Quote:
    """Price ``amount`` at ``rate_bps`` a year for ``days`` days, with ``Decimal`` arithmetic."""
    if amount <= 0:
        raise PricingError(f"the amount must be positive, got {amount}", details={"amount": amount})
    if not 0 <= rate_bps <= MAX_RATE_BPS:
        raise PricingError(
            f"the discount rate must be 0..{MAX_RATE_BPS} basis points, got {rate_bps}",
            details={"rate_bps": rate_bps, "max_rate_bps": MAX_RATE_BPS},
        )
    if days < 0:
        raise PricingError(f"days to maturity cannot be negative, got {days}")
    # One division, last. amount * rate * days is an integer and exact; dividing it by
    # 3 650 000 is exact whenever the quotient is whole (it has fewer digits than the
    # numerator, all kept), so a whole discount stays whole (dividing days by 365 first
    # rounded, and where it rounded up, a whole discount became 1 fen higher). A
    # quotient that is not whole is at least 1 / 3 650 000 from every integer, and the
    # division, keeping _GUARD_DIGITS digits more than the numerator has, errs by less than
    # 10**(1 - _GUARD_DIGITS) / 3 650 000: the ceiling of the rounded quotient is the
    # ceiling of the exact one.
    numerator = amount * rate_bps * days
    with localcontext() as ctx:
        ctx.prec = len(str(numerator)) + _GUARD_DIGITS
        exact = Decimal(numerator) / (BPS * DAYS_PER_YEAR)
        discount = int(exact.to_integral_value(rounding=ROUND_CEILING))
    if discount >= amount:
        raise PricingError(
            f"a discount of {discount} would consume the whole amount {amount}",
            details={"amount": amount, "discount": discount},
        )
    return Quote(amount, rate_bps, days, discount, amount - discount)


def quote_at(amount: int, rate_bps: int, maturity: int, at: int) -> Quote:
    """``quote`` for an approval at unix time ``at`` of a certificate maturing at ``maturity``."""
    return quote(amount, rate_bps, days_to_maturity(maturity, at))
