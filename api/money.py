"""Money at the edge: integer minor units inside, decimal strings with 2 digits outside."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from chain.errors import ScfError

MINOR_PER_UNIT = 100


class InvalidAmount(ScfError):
    code = "invalid_amount"
    http_status = 422


def format_amount(minor: int) -> str:
    """``12550`` → ``"125.50"``."""
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), MINOR_PER_UNIT)
    return f"{sign}{units}.{cents:02d}"


def parse_amount(text: str) -> int:
    """``"125.5"`` → ``12550``; at most 2 fraction digits, positive, never a float."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InvalidAmount(f"not a decimal amount: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise InvalidAmount(f"an amount must be positive, got {text!r}")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidAmount(f"at most 2 fraction digits, got {text!r}")
    return int(value * MINOR_PER_UNIT)
