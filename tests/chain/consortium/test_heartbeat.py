"""Nodes' heartbeats in a real etcd: written on a change at most once per interval, gone
when the node stops or its lease runs out, and a record that is not a node's own signed
heartbeat refused without harm to the others."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from chain.consortium import heartbeat
from chain.consortium.etcd import EtcdClient, EtcdResponseTooLarge
from chain.consortium.heartbeat import (
    MAX_RECORD_BYTES,
    HeartbeatPublisher,
    NodeState,
    encode,
    state_of,
)
from chain.consortium.keys import ChainKeys
from chain.consortium.replica import Role
from chain.consortium.seal import NodeKey, node_id
from nodes.consortium.cluster import cluster
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    Network,
    Node,
    faucet_transfer,
    new_chain_id,
    new_key,
    start_node,
    wait_for,
)

URL = "https://bank.example:8545"
HASH = bytes(range(32))


class Clock:
    """The publisher's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def publisher(
    client: EtcdClient, keys: ChainKeys, key: NodeKey, state: list[NodeState], clock: Clock
) -> HeartbeatPublisher:
    return HeartbeatPublisher(client, keys, key, URL, lambda: state[0], ttl=2, clock=clock)


def test_a_change_is_written_at_most_once_per_interval_and_read_back_signed(
    client: EtcdClient, keys: ChainKeys
) -> None:
    key, clock = new_key(), Clock()
    state = [NodeState("verifier", 7, HASH)]
    beat = publisher(client, keys, key, state, clock)
    assert beat.tick()
    written = client.get(beat.record_key)
    assert written is not None
    assert written.lease == beat.lease
    found = heartbeat.read(client, keys)
    assert found.refused == []
    record = found.records[node_id(key.public_key)]
    assert (record.rpc_url, record.state) == (URL, state[0])
    assert record.updated.endswith("Z")

    assert not beat.tick()  # nothing changed: nothing written
    state[0] = NodeState("minter", 8, HASH)
    clock.now += 0.5
    assert not beat.tick()  # changed, but within the interval of the last write
    unchanged = client.get(beat.record_key)
    assert unchanged is not None
    assert unchanged.mod_revision == written.mod_revision
    clock.now += 0.5
    assert beat.tick()
    assert heartbeat.read(client, keys).records[node_id(key.public_key)].state == state[0]
    beat.stop()


def test_stop_removes_the_record_and_an_unrenewed_lease_expires_with_it(
    client: EtcdClient, keys: ChainKeys
) -> None:
    stopped, died = new_key(), new_key()
    first = publisher(client, keys, stopped, [NodeState("verifier", 1, HASH)], Clock())
    second = publisher(client, keys, died, [NodeState("learner", 1, HASH)], Clock())
    assert first.tick()
    assert second.tick()
    assert len(heartbeat.read(client, keys).records) == 2
    first.stop()
    assert set(heartbeat.read(client, keys).records) == {node_id(died.public_key)}
    # ``second`` is never ticked again, as a killed node renews nothing: etcd drops it
    wait_for(lambda: not heartbeat.read(client, keys).records, "the dead node's lease to end")


def test_a_lost_lease_is_granted_anew_and_the_record_rewritten(
    client: EtcdClient, keys: ChainKeys
) -> None:
    clock = Clock()
    beat = publisher(client, keys, new_key(), [NodeState("verifier", 3, HASH)], clock)
    assert beat.tick()
    lost = beat.lease
    client.revoke_lease(lost)  # as when etcd was away for longer than the TTL
    assert heartbeat.read(client, keys).records == {}
    clock.now += 1  # a third of the TTL: the renewal finds the lease gone
    assert beat.tick()
    assert beat.lease not in (0, lost)
    assert len(heartbeat.read(client, keys).records) == 1
    beat.stop()


def test_records_that_are_not_a_nodes_own_heartbeat_are_refused(
    client: EtcdClient, keys: ChainKeys
) -> None:
    honest, impostor, victim = new_key(), new_key(), new_key()
    HeartbeatPublisher(
        client, keys, honest, URL, lambda: NodeState("minter", 5, HASH), clock=Clock()
    ).tick()
    victim_key = keys.heartbeat(node_id(victim.public_key))
    forged = json.loads(encode(impostor, URL, NodeState("minter", 9, HASH), "2026-01-01T00:00:00Z"))
    forged["node_id"] = "0x" + node_id(victim.public_key).hex()  # the impostor speaks for it
    client.put(victim_key, json.dumps(forged).encode())
    elsewhere = encode(impostor, URL, NodeState("verifier", 1, HASH), "2026-01-01T00:00:00Z")
    client.put(keys.heartbeat(node_id(victim.public_key)[::-1]), elsewhere)  # under a wrong key
    valid = json.loads(encode(impostor, URL, NodeState("verifier", 1, HASH), "x"))
    edited = {**valid, "head": 10**6}  # the signature no longer covers it
    impostor_key = keys.heartbeat(node_id(impostor.public_key))
    client.put(impostor_key, json.dumps(edited).encode())
    junk = {
        b"not-json": b"\xff{",
        b"a-list": b"[1, 2]",
        b"deep": b"[" * 4000,
        b"huge": b"{" + b" " * MAX_RECORD_BYTES + b"}",
        b"version": json.dumps({**valid, "version": 2}).encode(),
    }
    for name, value in junk.items():
        client.put(keys.heartbeats + name, value)

    found = heartbeat.read(client, keys)
    assert set(found.records) == {node_id(honest.public_key)}
    assert found.records[node_id(honest.public_key)].state.role == "minter"
    assert len(found.refused) == 8
    reasons = " | ".join(found.refused)
    for why in ("not a JSON object", "over 4096", "version", "not the one its key"):
        assert why in reasons
    assert reasons.count("not JSON") == 2
    assert reasons.count("not signed by the node it names") == 2


def test_an_oversized_or_too_long_answer_is_bounded(
    etcd: EtcdCluster, client: EtcdClient, keys: ChainKeys
) -> None:
    for index in range(3):
        client.put(keys.heartbeats + str(index).encode(), b"{}")
    found = heartbeat.read(client, keys, limit=2)
    assert len(found.refused) == 3  # two read and refused, and the rest not read
    assert "more than 2 records" in found.refused[-1]
    client.put(keys.heartbeats + b"big", b"x" * 300_000)
    with (
        EtcdClient(etcd.endpoints, max_response_bytes=64 * 1024) as small,
        pytest.raises(EtcdResponseTooLarge),  # an error status shows, not a crash
    ):
        heartbeat.read(small, keys)


def test_a_running_minter_and_verifier_publish_role_head_and_lag(
    etcd: EtcdCluster, tmp_path: Path, nodes: list[Node]
) -> None:
    """Two in-process validators: each one's heartbeat, as status reads it, names its role
    and its head; a verifier that stops is gone while the minter stays live."""
    key_a, key_b = new_key(), new_key()
    ids = node_id(key_a.public_key), node_id(key_b.public_key)
    network = Network(etcd.endpoints, new_chain_id(), frozenset(ids))
    a = start_node(tmp_path, network, "a", key_a)
    nodes.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to mint")
    b = start_node(tmp_path, network, "b", key_b)
    nodes.append(b)
    a.ledger.send_raw_transaction(faucet_transfer(a.ledger, "0x" + "22" * 20))
    wait_for(lambda: b.head >= 1 and b.head == a.head, "b to import a's block")

    keys = ChainKeys(network.chain_id)
    beats = {
        node.name: HeartbeatPublisher(
            node.client, keys, key, f"http://{node.name}", partial(state_of, node.replica)
        )
        for node, key in ((a, key_a), (b, key_b))
    }
    for beat in beats.values():
        assert beat.tick()
    registry = [
        {"id": "0x" + i.hex(), "endpoint": f"http://{name}", "allowed": True}
        for name, i in zip("ab", ids, strict=True)
    ]
    log_head = a.head + 2  # as if the log ran ahead of both
    shown = cluster(
        {"role": "stopped", "log_head": log_head},
        registry,
        {**heartbeat.read(a.client, keys).as_json(), "error": None},
    )
    by_endpoint = {n["endpoint"]: n for n in shown["nodes"]}
    assert by_endpoint["http://a"]["role"] == "minter"
    assert by_endpoint["http://b"]["role"] == "verifier"
    for node in (a, b):
        entry = by_endpoint[f"http://{node.name}"]
        assert entry["state"] == "live"
        assert entry["reachable"]
        assert entry["head"] == node.head
        assert entry["lag"] == 2
        assert entry["hash"] == "0x" + bytes(node.ledger.node.head.hash).hex()

    beats["b"].stop()
    shown = cluster(
        {"role": "stopped", "log_head": log_head},
        registry,
        {**heartbeat.read(a.client, keys).as_json(), "error": None},
    )
    states = {n["endpoint"]: (n["state"], n["reachable"], n["head"]) for n in shown["nodes"]}
    assert states == {"http://a": ("live", True, a.head), "http://b": ("gone", False, None)}
    beats["a"].stop()
