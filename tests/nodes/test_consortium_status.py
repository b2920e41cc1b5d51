"""``scf-node status`` and ``node list`` of a stopped consortium home: the cluster read
from etcd's heartbeats by the home itself (a founding home on a real etcd, in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chain.consortium.etcd import EtcdClient
from chain.consortium.heartbeat import HeartbeatPublisher, NodeState
from chain.consortium.keys import ChainKeys
from chain.consortium.seal import node_id
from nodes.cli import app
from nodes.consortium.cluster import cluster
from nodes.consortium.descriptor import descriptor_of
from nodes.consortium.stack import node_key_of
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.ports import free_ports
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import new_key

runner = CliRunner()


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(1, tmp_path_factory.mktemp("etcd"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def home(etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    home = NodeHome(tmp_path_factory.mktemp("founder") / "home")
    founded = runner.invoke(
        app,
        ["init", "--home", str(home.path), "--dev", "--consortium", "--etcd", etcd.endpoints[0]],
    )
    assert founded.exit_code == 0, founded.output
    return home


def run(home: NodeHome, *command: str) -> Any:
    result = runner.invoke(app, [*command, "--home", str(home.path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_stopped_home_shows_live_nodes_from_etcd_and_allowed_nodes_without_one_as_gone(
    etcd: EtcdCluster, home: NodeHome
) -> None:
    keys = ChainKeys(descriptor_of(home).chain_id)
    founder = node_key_of(home, DEV_PASSPHRASE)
    founder_id = "0x" + node_id(founder.public_key).hex()

    shown = run(home, "status")["consortium"]
    assert shown["role"] == "stopped"
    assert shown["heartbeats_error"] is None
    (entry,) = shown["nodes"]
    assert (entry["id"].lower(), entry["allowed"]) == (founder_id, True)
    assert (entry["state"], entry["reachable"], entry["head"]) == ("gone", False, None)
    log_head = shown["log_head"]
    assert isinstance(log_head, int)

    learner = new_key()  # a regulator's node: follows, never on the allow-list
    with EtcdClient(etcd.endpoints) as client:
        behind = NodeState("verifier", max(0, log_head - 1), b"\1" * 32)
        following = NodeState("learner", log_head, b"\2" * 32)
        beats = [
            HeartbeatPublisher(client, keys, founder, "https://founder:8545", lambda: behind),
            HeartbeatPublisher(client, keys, learner, "https://regulator:8545", lambda: following),
        ]
        for beat in beats:
            assert beat.tick()
        client.put(keys.heartbeats + b"junk", b"not a heartbeat")
        try:
            shown = run(home, "status")["consortium"]
            listed = run(home, "node", "list")
            table = runner.invoke(app, ["status", "--home", str(home.path)]).output
            nodes_table = runner.invoke(app, ["node", "list", "--home", str(home.path)])
        finally:
            for beat in beats:
                beat.stop()
            client.delete_range(keys.heartbeats + b"junk")

    by_id = {n["id"].lower(): n for n in shown["nodes"]}
    founder_entry = by_id[founder_id]
    assert founder_entry["state"] == "live"
    assert founder_entry["role"] == "verifier"
    assert founder_entry["head"] == max(0, log_head - 1)
    assert founder_entry["lag"] == log_head - founder_entry["head"]
    assert founder_entry["rpc_url"] == "https://founder:8545"
    (regulator,) = shown["other_nodes"]
    assert regulator["id"] == "0x" + node_id(learner.public_key).hex()
    assert (regulator["allowed"], regulator["role"], regulator["lag"]) == (False, "learner", 0)
    assert regulator["endpoint"] == "https://regulator:8545"
    assert len(shown["refused_heartbeats"]) == 1
    assert "junk" in shown["refused_heartbeats"][0]
    (node,) = listed  # the registry's nodes, each with what its heartbeat says
    assert node["live"]["state"] == "live"
    assert node["live"]["role"] == "verifier"
    assert "not on the allow-list" in table
    assert nodes_table.exit_code == 0, nodes_table.output
    for word in ("verifier,", "learner,", "listed"):  # single words: the table wraps cells
        assert word in nodes_table.output
    assert "refused" in table

    gone = run(home, "status")["consortium"]  # stopped: their leases revoked
    assert [n["state"] for n in gone["nodes"]] == ["gone"]
    assert gone["other_nodes"] == []


def with_settings(home: NodeHome, directory: Path, change: Any) -> NodeHome:
    """A copy of ``home`` (its parts linked) whose ``node.json`` ``change`` edited."""
    settings = json.loads(home.settings.read_text())
    change(settings)
    copy = NodeHome(directory)
    copy.path.mkdir()
    for part in home.path.iterdir():
        if part.name != home.settings.name:
            (copy.path / part.name).symlink_to(part, target_is_directory=part.is_dir())
    copy.settings.write_text(json.dumps(settings))
    return copy


def test_an_etcd_that_cannot_be_read_leaves_the_nodes_unknown(
    home: NodeHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (port,) = free_ports(1)  # nothing listens there

    def elsewhere(settings: dict[str, Any]) -> None:
        settings["consortium"]["etcd"] = [f"http://127.0.0.1:{port}"]

    shown = run(with_settings(home, tmp_path / "moved", elsewhere), "status")["consortium"]
    assert "no etcd endpoint accepted a connection" in shown["heartbeats_error"]
    assert [n["state"] for n in shown["nodes"]] == ["unknown"]
    assert shown["log_head"] is None

    def production_over_tls(settings: dict[str, Any]) -> None:
        settings["dev"] = False  # no development passphrase to fall back on
        settings["consortium"]["etcd_tls"] = True

    monkeypatch.delenv("SCF_PASSPHRASE", raising=False)
    locked = with_settings(home, tmp_path / "locked", production_over_tls)
    shown = run(locked, "status")["consortium"]  # never a prompt: says what it needs
    assert "set SCF_PASSPHRASE" in shown["heartbeats_error"]
    assert [n["state"] for n in shown["nodes"]] == ["unknown"]


def test_the_running_node_answers_for_itself_and_removed_nodes_show_only_while_live() -> None:
    def node(tag: str, allowed: bool) -> dict[str, Any]:
        return {"id": "0x" + tag * 32, "endpoint": f"http://{tag}", "allowed": allowed}

    def record(tag: str, role: str, head: int) -> dict[str, Any]:
        return {
            "node_id": "0x" + tag * 32, "rpc_url": f"https://{tag}", "role": role,
            "head": head, "hash": "0x" + "00" * 32, "halted": None, "updated": "x",
        }  # fmt: skip

    own = {"node_id": "0x" + "AA" * 32, "role": "minter", "head": 12, "halted": None}
    registry = [node("aa", True), node("bb", True), node("cc", False), node("dd", False)]
    heartbeats = {
        "records": [record("aa", "verifier", 9), record("cc", "verifier", 11)],
        "refused": [],
        "error": None,
    }
    shown = cluster({**own, "log_head": 12}, registry, heartbeats)
    mine, other = shown["nodes"]
    assert (mine["state"], mine["role"], mine["head"], mine["lag"]) == ("live", "minter", 12, 0)
    assert mine["rpc_url"] == "https://aa"  # the rest from its own heartbeat
    assert (other["state"], other["reachable"], other["lag"]) == ("gone", False, None)
    (removed,) = shown["other_nodes"]  # "dd" was removed and is not running: not shown
    assert (removed["id"], removed["allowed"], removed["lag"]) == ("0x" + "cc" * 32, False, 1)
    unknown = cluster(own, registry, {"records": [], "refused": [], "error": "etcd away"})
    assert [n["state"] for n in unknown["nodes"]] == ["live", "unknown"]
    assert unknown["nodes"][0]["lag"] is None  # no log head without etcd
