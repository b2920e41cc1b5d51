"""Ledger backends, picked by name from one table (FireFly's plugin-factory idea).

``open_ledger("tester")`` gives an in-memory eth-tester chain. Later backends
(``embedded``, ``rpc``) register here under their names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chain.errors import UnknownBackendError
from chain.ledger import Ledger


def _tester(**options: Any) -> Ledger:
    from chain.backends.tester import TesterLedger

    return TesterLedger(**options)


def _rpc(**options: Any) -> Ledger:
    from chain.backends.rpc import RpcLedger

    return RpcLedger(**options)


def _embedded(**options: Any) -> Ledger:
    from chain.backends.embedded import EmbeddedLedger

    return EmbeddedLedger(**options)


BACKENDS: dict[str, Callable[..., Ledger]] = {
    "tester": _tester,
    "rpc": _rpc,
    "embedded": _embedded,
}


def open_ledger(name: str, **options: Any) -> Ledger:
    """Open the ledger backend called ``name`` with backend-specific ``options``."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise UnknownBackendError(
            f"unknown ledger backend {name!r}; known backends: {known}",
            details={"backend": name, "known": sorted(BACKENDS)},
        ) from None
    return factory(**options)
