"""Conversions between wire values (ISO dates, 0x-hex) and what contracts take."""

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


def bytes32(text: str) -> bytes:
    """``"0x…"`` (64 hex digits, validated by the schema) as 32 bytes."""
    return bytes.fromhex(text.removeprefix("0x"))


def hex0x(value: bytes) -> str:
    return "0x" + bytes(value).hex()
