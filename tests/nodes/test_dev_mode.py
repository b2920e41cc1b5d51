"""``start --dev`` says loudly what it opens up: a warning block on stderr and a log line."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from nodes import dev_mode
from nodes.commands.status import render


def test_the_warning_names_what_dev_mode_opens(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="nodes.dev_mode"):
        dev_mode.announce(Console(file=out, width=100, color_system=None))
    shown = " ".join(out.getvalue().replace("│", " ").split())
    assert dev_mode.TITLE in shown
    for words in (
        "faucet's private key is public",
        "exempt from the permissioning allow-list",
        "evm_snapshot, evm_revert",
        "open on the JSON-RPC to any caller",
        "fixed development passphrase",
    ):
        assert words in shown, words
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    for words in ("faucet key is public", "exempt from permissioning", "evm_snapshot/evm_revert"):
        assert words in record.getMessage()


def _report(dev: bool) -> dict[str, object]:
    return {
        "home": "/h",
        "node": {
            "running": True,
            "dev_mode": dev,
            "rpc_url": "http://127.0.0.1:8545",
            "api_url": None,
            "read_url": None,
            "processes": [],
        },
        "chain_id": 8888,
        "head": {"block": 1, "hash": "0x00", "time": "2026-12-06T00:00:00Z", "age_seconds": 0},
        "block_rate": {"measured_by": "stopped", "blocks": 0, "seconds": 0},
        "pending_transactions": {"unconfirmed_in_store": 0, "in_node_pool": 0},
        "nodes": {"allowed": 1, "removed": 0},
        "members": {"total": 1, "by_status": {}, "by_role": {}},
        "governors": [],
        "pending_proposals": [],
        "read_model": {"indexed_block": None, "lag_blocks": None},
        "disk_bytes": {"total": 0},
    }


@pytest.mark.parametrize("dev", [True, False])
def test_status_shows_a_node_running_in_dev_mode(dev: bool) -> None:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render(_report(dev)))
    assert ("DEVELOPMENT (--dev)" in out.getvalue()) is dev
