"""Real etcd for the consortium tests: one single-member cluster per module (tests keep
apart by each using a chain id of its own), and three-member clusters per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.replica import Role
from chain.consortium.seal import node_id
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.forwarding import (
    MINTER_GAS_CAP,
    ForwardingNode,
    start_forwarding_node,
)
from tests.chain.consortium.ledger_nodes import Network, Node, new_chain_id, new_key, wait_for


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(1, tmp_path_factory.mktemp("etcd"))
    yield cluster
    cluster.stop()


@pytest.fixture
def etcd3(tmp_path: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(3, tmp_path / "etcd3")
    yield cluster
    cluster.stop()


@pytest.fixture
def client(etcd: EtcdCluster) -> Iterator[EtcdClient]:
    with EtcdClient(etcd.endpoints) as etcd_client:
        yield etcd_client


@pytest.fixture
def keys() -> ChainKeys:
    """A chain of its own in the shared etcd."""
    return ChainKeys(secrets.randbelow(2**62) + 1)


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    """Consortium nodes a test starts; closed at its end (a test may close some itself)."""
    started: list[Node] = []
    yield started
    for node in reversed(started):
        node.close()


@pytest.fixture
def forwarding_pair(etcd: EtcdCluster, tmp_path: Path) -> Iterator[list[ForwardingNode]]:
    """Two bootstrap validators: ``a`` mints (with a lower gas cap), ``b`` forwards."""
    key_a, key_b = new_key(), new_key()
    network = Network(
        etcd.endpoints,
        new_chain_id(),
        frozenset({node_id(key_a.public_key), node_id(key_b.public_key)}),
    )
    started: list[ForwardingNode] = []
    a = start_forwarding_node(tmp_path, network, "a", key_a, max_transaction_gas=MINTER_GAS_CAP)
    started.append(a)
    wait_for(lambda: a.role is Role.MINTER, "a to mint")
    started.append(start_forwarding_node(tmp_path, network, "b", key_b))
    yield started
    for node in reversed(started):
        node.close()
