"""How the API writes ledger times (ISO 8601, UTC; docs/api.md, 2.2), spelled out
independently of the code under test, so a test compares the exact strings a client
receives."""

from __future__ import annotations

import time


def iso_instant(seconds: int) -> str:
    """Unix ``seconds`` as the API answers an instant: ``"2026-11-25T17:12:55Z"``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def iso_day(seconds: int) -> str:
    """The UTC day holding Unix ``seconds`` as the API answers a day: ``"2027-01-31"``."""
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))
