"""The embedded node's block rate: what it sealed by its machine's monotonic clock."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chain.backends import open_ledger
from chain.backends.embedded import EmbeddedLedger
from chain.embedded.clock import RATE_WINDOW, BlockRate


class Monotonic:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(time, "monotonic", fake)
    return fake


def test_the_rate_covers_the_last_window_of_the_monotonic_clock(monotonic: Monotonic) -> None:
    rate = BlockRate()
    monotonic.now += 10
    assert tuple(rate.measure()) == (10.0, 0, 0)  # a young node: since it opened
    rate.record(5)
    monotonic.now += RATE_WINDOW - 1
    rate.record(2)
    assert tuple(rate.measure()) == (RATE_WINDOW, 2, 7)
    monotonic.now += 2  # the first block is older than the window now
    assert tuple(rate.measure()) == (RATE_WINDOW, 1, 2)


def test_time_travel_does_not_bend_the_rate(tmp_path: Path) -> None:
    ledger = open_ledger("embedded", data_dir=tmp_path, dev=True)
    assert isinstance(ledger, EmbeddedLedger)
    try:
        ledger.increase_time(365 * 86_400)  # a block a year ahead
        ledger.mine(2)
        produced = ledger.handler.handle("scf_blockProduction", [])
        assert (produced["blocks"], produced["transactions"]) == (3, 0)
        assert 0 < produced["seconds"] <= RATE_WINDOW
    finally:
        ledger.close()
