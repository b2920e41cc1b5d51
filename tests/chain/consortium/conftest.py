"""Real etcd for the consortium tests: one single-member cluster per module (tests keep
apart by each using a chain id of its own), and three-member clusters per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import Node


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
