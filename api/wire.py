"""Conversions between wire values (ISO dates, 0x-hex) and what contracts take."""

from __future__ import annotations

from datetime import UTC, date, datetime, time


def utc_midnight(day: date) -> int:
    """Unix seconds of 00:00 UTC on ``day``."""
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def bytes32(text: str) -> bytes:
    """``"0x…"`` (64 hex digits, validated by the schema) as 32 bytes."""
    return bytes.fromhex(text.removeprefix("0x"))


def hex0x(value: bytes) -> str:
    return "0x" + bytes(value).hex()
