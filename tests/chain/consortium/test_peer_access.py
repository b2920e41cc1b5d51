"""Revoking a node's certificate is removing the node (docs/decisions/0028): the peer
endpoint asks the NodeRegistry at its head about the node a certificate names, so a node
the committee removed is refused from its next request on, over the same connection,
while a learner, which the registry never lists, keeps reading history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chain.accounts import Signer
from chain.consortium.peers import (
    HEADERS_METHOD,
    Peer,
    PeerClient,
    PeerRefusedUs,
    serve_history_over_tls,
)
from chain.consortium.replica import Role
from chain.consortium.seal import NodeKey, node_id
from chain.deploy import Consortium
from chain.embedded.http import serve_in_background
from chain.governance import pass_proposal
from nodes.pki.ca import ConsortiumCA
from tests.chain.consortium.etcd_cluster import EtcdCluster
from tests.chain.consortium.ledger_nodes import (
    Network,
    Node,
    deploy,
    new_chain_id,
    new_key,
    registry_address,
    start_node,
    wait_for,
)
from tests.chain.consortium.test_peers_tls import PASSPHRASE, NodeFiles, node_files


@dataclass
class Registered:
    minter: Node
    consortium: Consortium
    deployer: Signer
    url: str
    ca: ConsortiumCA
    directory: Path
    votes: int = 0

    def certificate(self, name: str, node: NodeKey) -> NodeFiles:
        return node_files(self.ca, self.directory / name, name, node)

    def client(self, files: NodeFiles) -> PeerClient:
        return PeerClient(Peer(self.url, context=files.context(server=False)), timeout=5)

    def vote(self, method: str, *args: object) -> None:
        self.votes += 1  # a proposal's description makes it unique
        registry = self.consortium.nodes
        calls = [(registry, method, args)]
        pass_proposal(self.consortium.governance, self.deployer, calls, f"{method} {self.votes}")


@pytest.fixture
def registered(etcd: EtcdCluster, tmp_path: Path) -> Iterator[Registered]:
    """A minter with the consortium's contracts (its node on the NodeRegistry) serving
    its peer endpoint, as a consortium node's ledger process does."""
    key = new_key()
    deployer = Signer.create()
    network = Network(
        etcd.endpoints,
        new_chain_id(),
        frozenset({node_id(key.public_key)}),
        registry_address(deployer),
    )
    minter = start_node(tmp_path, network, "minter", key)
    server = None
    try:
        wait_for(lambda: minter.role is Role.MINTER, "the minter")
        consortium = deploy(minter, deployer)
        ca = ConsortiumCA.create(tmp_path / "consortium-ca", PASSPHRASE, "Test Consortium")
        serving = node_files(ca, tmp_path / "minter-pki", "minter", key)
        server = serve_history_over_tls(
            minter.ledger.node,
            serving.context(server=True),
            "127.0.0.1",
            0,
            minter.replica.allow_list,
        )
        serve_in_background(server)
        url = f"https://127.0.0.1:{server.server_address[1]}"
        yield Registered(minter, consortium, deployer, url, ca, tmp_path)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        minter.close()


def test_a_node_removed_by_a_vote_is_refused_at_its_next_request(registered: Registered) -> None:
    key_b = new_key()
    bank = registered.client(registered.certificate("bank", key_b))
    learner = registered.client(registered.certificate("regulator", new_key()))
    try:
        # before its vote: a joining node syncs from history, as a learner does
        assert len(bank.headers(1, 2)) == 2
        registered.vote("addNode", key_b.public_key, 1, "https://bank.example:8546")
        assert len(bank.headers(1, 2)) == 2  # allowed: served
        registered.vote("removeNode", node_id(key_b.public_key))
        # the same client, its connection kept alive: refused from the next request on
        with pytest.raises(PeerRefusedUs, match="peer_node_removed"):
            bank.headers(1, 2)
        assert len(learner.headers(1, 2)) == 2  # a learner is never on the registry
    finally:
        bank.close()
        learner.close()


def test_the_refusal_is_403_with_its_code_and_a_node_added_again_is_served(
    registered: Registered,
) -> None:
    key_b = new_key()
    files = registered.certificate("bank", key_b)
    registered.vote("addNode", key_b.public_key, 1, "https://bank.example:8546")
    registered.vote("removeNode", node_id(key_b.public_key))
    body = {"jsonrpc": "2.0", "id": 1, "method": HEADERS_METHOD, "params": ["0x1", "0x1"]}
    with httpx.Client(verify=files.context(server=False), timeout=5) as http:
        answer = http.post(registered.url, json=body)
    assert answer.status_code == 403
    assert answer.json()["error"]["data"] == {"code": "peer_node_removed"}
    assert node_id(key_b.public_key).hex() in answer.json()["error"]["message"]
    # the committee may add the same node again (NodeRegistry keeps its record)
    registered.vote("addNode", key_b.public_key, 1, "https://bank.example:8546")
    with httpx.Client(verify=files.context(server=False), timeout=5) as http:
        answer = http.post(registered.url, json=body)
    assert answer.status_code == 200
    assert len(answer.json()["result"]) == 1


def test_the_minters_own_node_on_the_registry_reads_its_peers_history(
    registered: Registered,
) -> None:
    """A validator the registry allows (here the deployment's own node) is served."""
    assert registered.minter.key is not None
    own = registered.client(registered.certificate("minter-client", registered.minter.key))
    try:
        assert len(own.headers(1, 3)) == 3
    finally:
        own.close()
