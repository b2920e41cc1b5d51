"""Backends are picked by name; each one passes the ledger conformance class."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.backends import open_ledger
from chain.errors import UnknownBackendError
from chain.ledger import Ledger
from tests.chain.ledger_conformance import LedgerConformance


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(UnknownBackendError, match=r"unknown ledger backend 'besu'.*tester") as info:
        open_ledger("besu")
    assert info.value.details["known"] == ["tester"] or "tester" in info.value.details["known"]


class TestTesterBackend(LedgerConformance):
    @pytest.fixture(scope="class")
    def backend(self) -> Iterator[Ledger]:
        ledger = open_ledger("tester")
        yield ledger
        ledger.close()
