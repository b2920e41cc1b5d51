"""Conversions between wire values (ISO dates, 0x-hex) and what contracts take.

The ledger keeps times as Unix seconds. The API shows them in ISO 8601, UTC: a
calendar day as ``"2027-01-31"`` (``utc_day``), an instant as ``"2026-11-25T17:12:55Z"``
(``utc_datetime``, serialized by ``api.schemas.UtcDateTime``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from chain.errors import ScfError

# Contracts store times as uint64 (some as uint40): keep to what both can hold.
MAX_TIMESTAMP = 2**40 - 1


class InvalidTime(ScfError):
    code = "invalid_time"
    http_status = 422


def timestamp(moment: datetime) -> int:
    """Unix seconds of an aware ``moment``; naive times and times before 1970 are refused."""
    if moment.tzinfo is None:
        raise InvalidTime(f"{moment.isoformat()} has no time zone: add Z or an offset")
    seconds = int(moment.timestamp())
    if not 0 <= seconds <= MAX_TIMESTAMP:
        raise InvalidTime(f"{moment.isoformat()} is outside the ledger's time range")
    return seconds


def utc_midnight(day: date) -> int:
    """Unix seconds of 00:00 UTC on ``day``."""
    return timestamp(datetime.combine(day, time(0), tzinfo=UTC))


def utc_datetime(seconds: int) -> datetime:
    """The instant of Unix ``seconds`` (a ledger time), in UTC."""
    return datetime.fromtimestamp(seconds, UTC)


def optional_utc_datetime(seconds: int | None) -> datetime | None:
    return None if seconds is None else utc_datetime(seconds)


def utc_day(seconds: int) -> date:
    """The UTC calendar day holding Unix ``seconds``: the inverse of ``utc_midnight`` for the
    days the contracts store as their 00:00 UTC (invoice dates, maturity, credit line expiry)."""
    return utc_datetime(seconds).date()


def bytes32(text: str) -> bytes:
    """``"0x…"`` (64 hex digits, validated by the schema) as 32 bytes."""
    return bytes.fromhex(text.removeprefix("0x"))


def hex0x(value: bytes) -> str:
    return "0x" + bytes(value).hex()
