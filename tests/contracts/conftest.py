"""Every contract test starts from the same deployed consortium and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.deploy import Consortium
from chain.ledger import Ledger


@pytest.fixture(autouse=True)
def _isolated(ledger: Ledger, consortium: Consortium) -> Iterator[None]:
    snapshot = ledger.snapshot()
    yield
    ledger.revert(snapshot)
