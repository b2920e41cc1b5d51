"""The benchmark's restart timing: stores opened in turn (``open_seconds_in_turns``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.embedded.node import EmbeddedNode, NodeConfig
from scripts.bench import engine
from scripts.bench.engine import node_config, open_seconds_in_turns
from scripts.bench.results import BenchmarkFailed, BenchOptions

OPTIONS = BenchOptions()


def _store(path: Path, blocks: int) -> int:
    """A ledger store with ``blocks`` empty blocks on genesis; its head."""
    node = EmbeddedNode(node_config(path, OPTIONS))
    try:
        for _ in range(blocks):
            node.mine()
        return node.head.block_number
    finally:
        node.stop()


def test_the_stores_are_opened_in_turn_and_each_gets_its_median(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, long = tmp_path / "short", tmp_path / "long"
    heads = {short: _store(short, 1), long: _store(long, 6)}
    opened: list[Path] = []

    def recording(config: NodeConfig) -> EmbeddedNode:
        opened.append(config.data_dir)
        return EmbeddedNode(config)

    monkeypatch.setattr(engine, "EmbeddedNode", recording)
    times = open_seconds_in_turns([(short, heads[short]), (long, heads[long])], OPTIONS, 3)

    assert opened == [short, long] * 3  # taking turns, not store after store
    assert len(times) == 2
    assert all(0 < seconds < 5 for seconds in times)


def test_a_store_that_reopens_at_another_head_fails_the_run(tmp_path: Path) -> None:
    head = _store(tmp_path / "ledger", 2)
    with pytest.raises(BenchmarkFailed, match=f"reopened at block {head}, expected {head + 1}"):
        open_seconds_in_turns([(tmp_path / "ledger", head + 1)], OPTIONS, 1)
