"""`scf-node status`: what it reports about a home, as a table and as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from chain.accounts import Signer
from chain.events import EventDecoder
from chain.governance import pass_proposal, propose
from nodes.cli import app
from nodes.connect import connected, database_url
from nodes.home import DEV_PASSPHRASE, NodeHome
from tests.nodes.test_cli_governance import init_dev_home

runner = CliRunner()


def status(home: NodeHome, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["status", "--home", str(home.path), *args])
    return result.exit_code, result.output


def status_json(home: NodeHome) -> Any:
    result = runner.invoke(app, ["status", "--home", str(home.path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    return init_dev_home(tmp_path_factory.mktemp("status"))


def test_status_of_a_new_stopped_home(home: NodeHome) -> None:
    with connected(home) as connection:
        head = connection.ledger.get_block("latest")
        governor = connection.consortium.governance.call("governors")
    report = status_json(home)
    assert report["node"] == {
        "running": False,
        "dev_mode": False,
        "rpc_url": None,
        "api_url": None,
        "read_url": None,
        "processes": [],  # what a running node's supervisor publishes
    }
    assert report["head"]["block"] == head["number"]
    assert report["head"]["hash"] == "0x" + bytes(head["hash"]).hex()
    assert report["head"]["time"].endswith("Z")
    assert report["block_rate"] == {
        "measured_by": "stopped",
        "blocks": 0,
        "seconds": 0,
        "blocks_per_minute": None,
        "transactions": 0,
        "transactions_per_minute": None,
    }
    assert report["pending_transactions"] == {"unconfirmed_in_store": 0, "in_node_pool": 0}
    assert report["members"] == {
        "total": 1,
        "by_status": {"active": 1},
        "by_role": {"AUDITOR": 1},
    }
    assert report["governors"] == [{"address": governor[0], "weight": 1}]
    assert report["nodes"] == {"allowed": 1, "removed": 0}  # its own, registered by init
    assert report["pending_proposals"] == []
    assert report["read_model"] == {"indexed_block": None, "lag_blocks": None}
    assert report["disk_bytes"]["chain"] > 0
    parts = {k: v for k, v in report["disk_bytes"].items() if k != "total"}
    assert report["disk_bytes"]["total"] == sum(parts.values())

    code, out = status(home)
    assert code == 0, out
    text = " ".join(out.split())
    assert f"head │ block {head['number']} at" in text
    assert "node │ stopped" in text
    assert "block rate │ none: the node is stopped" in text
    assert "nodes │ 1 allowed, 0 removed" in text
    assert "no read model yet" in text


def test_status_shows_pending_proposals_and_read_model_lag(home: NodeHome) -> None:
    with connected(home) as connection:
        consortium, ledger = connection.consortium, connection.ledger
        governance = consortium.governance
        first = home.read_keystore(DEV_PASSPHRASE)
        second = Signer.create()
        pass_proposal(governance, first, [(governance, "setGovernor", (second.address, 1))], "2")
        # two governors at 100 % thresholds: one vote leaves a proposal pending
        proposal_id, _ = propose(
            governance, first, [(consortium.members, "suspendMember", (1,))], "suspend"
        )
        # a read model indexed up to two blocks below the head
        engine = make_engine(database_url(home))
        migrate(engine)
        indexer = Indexer(session_factory(engine), ledger, EventDecoder(consortium))
        head = ledger.block_number()
        indexer.sync(to_block=head - 2)
        engine.dispose()
    report = status_json(home)
    assert report["pending_proposals"] == [proposal_id]
    assert report["read_model"] == {"indexed_block": head - 2, "lag_blocks": 2}
    assert len(report["governors"]) == 2
    code, out = status(home)
    assert code == 0
    text = " ".join(out.split())
    assert f"pending proposals │ {proposal_id}" in text
    assert f"indexed to block {head - 2}, 2 behind" in text


def test_status_needs_an_initialized_home(tmp_path: Any) -> None:
    code, out = status(NodeHome(tmp_path / "nothing"))
    assert code == 1
    assert "is not an initialized node home" in " ".join(out.split())
    assert not (tmp_path / "nothing").exists()  # status created nothing
