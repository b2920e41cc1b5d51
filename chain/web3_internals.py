"""Every private name of web3.py the chain layer leans on, in one place.

web3.py formats JSON-RPC answers (hex quantities to integers, checksummed addresses,
bytes) in its request pipeline; the ledger backends that skip that pipeline for speed
(``chain.backends.receipts``, ``chain.backends.scf_node``) still format with web3.py's
own formatters, so that what they return is what web3.py would have returned. Those
formatters live in ``web3._utils``: they are reached only through this module, so that an
upgrade of web3.py is a review of this file. ``tests/chain/test_library_internals.py``
checks the installed web3.py is ``PINNED_VERSION`` and names any symbol that has gone.
"""

from __future__ import annotations

from typing import Any

from web3._utils.method_formatters import log_entry_formatter, receipt_formatter

PINNED_VERSION = "8.0.0"  # as pinned in pyproject.toml

__all__ = ["PINNED_VERSION", "format_log_entry", "format_receipt_fields"]


def format_receipt_fields(answer: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC receipt's fields as web3.py formats them (plain dicts, not yet wrapped)."""
    formatted: dict[str, Any] = receipt_formatter(answer)
    return formatted


def format_log_entry(log: dict[str, Any]) -> dict[str, Any]:
    """A JSON-RPC log entry as web3.py formats it (plain dicts, not yet wrapped)."""
    formatted: dict[str, Any] = log_entry_formatter(log)
    return formatted
