"""Three institutions and a regulator on loopback, as real processes (issue 24): three etcd
members, ``scf-node init --consortium`` at the founder, ``scf-node join`` at a bank, a
supplier's institution and a regulator (learner). One cluster for the module: each node
costs seconds to start. Every node serves its endpoint for private documents from other
institutions (ADR 22)."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.consortium.seal import NodeKey
from nodes.consortium.forward import FORWARD_METHOD, sign_forward
from nodes.home import NodeHome
from tests.nodes.consortium_cluster import (
    RETAIN_BLOCKS,
    Cluster,
    Institution,
    Member,
    cli,
    invoice,
    wait_for,
)

DELIVERY_WAIT = 120.0  # a home published (every few seconds), then a backoff of at most 30 s


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    built = Cluster(tmp_path_factory.mktemp("consortium"))
    try:
        yield built
    finally:
        built.stop()


def _same_chain(nodes: list[Institution]) -> tuple[int, set[tuple[str, str]]]:
    """The height every node has reached, and each node's (hash, state root) there."""
    height = wait_for(
        lambda: (lambda heads: min(heads) == max(heads) and heads[0])(
            [node.head() for node in nodes]
        ),
        "every node at the same head",
    )
    return height, {node.block(height) for node in nodes}


def _store_and_register(seller: Member, buyer_id: int, number: int, key: str) -> httpx.Response:
    content = f"invoice {number} of member {seller.id}".encode()
    stored = seller.post(
        "/v1/documents",
        {
            "filename": f"invoice-{number}.txt",
            "content_type": "text/plain",
            "content": base64.b64encode(content).decode(),
            "party_ids": [buyer_id],
        },
    )
    assert stored.status_code in (200, 201), stored.text
    body = invoice(buyer_id, stored.json()["hash"], number, f"{number % 1000}.25")
    return seller.post("/v1/invoices", body, key=key)


def _invoices_when(reader: Member, count: int) -> list[dict[str, Any]]:
    """The invoices ``reader`` sees through its node, once its read model holds ``count``."""

    def listed() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = reader.get("/v1/invoices").json()["items"]
        return items if len(items) >= count else None

    found: list[dict[str, Any]] = wait_for(listed, f"{count} invoices at {reader.home.name}")
    return found


def test_roles_and_cluster_status(cluster: Cluster) -> None:
    roles = {node.name: node.consortium()["role"] for node in cluster.nodes}
    assert sorted(roles[n.name] for n in cluster.validators) == ["minter", "verifier", "verifier"]
    assert roles["regulator"] == "learner"
    minter = next(n for n in cluster.validators if roles[n.name] == "minter")
    for node in cluster.nodes:
        health = httpx.get(f"{node.api_url}/healthz", timeout=10).json()
        assert health["consortium"]["minter"] == minter.rpc_url
        assert health["consortium"]["role"] == roles[node.name]
        metrics = httpx.get(f"{node.api_url}/metrics", timeout=10).text
        assert f'scf_consortium_role{{role="{roles[node.name]}"}} 1.0' in metrics
        assert "scf_consortium_halted 0.0" in metrics
    status = cli("status", "--home", str(cluster.learner.home), "--json")
    shown = json.loads(status.stdout)["consortium"]
    assert shown["role"] == "learner"
    assert shown["minter"] == minter.rpc_url
    assert len(shown["etcd"]) == 3
    assert all(e["healthy"] for e in shown["etcd"])
    assert {n["endpoint"] for n in shown["nodes"]} == {n.rpc_url for n in cluster.validators}
    assert all(n["reachable"] and n["lag"] is not None for n in shown["nodes"])


def test_writes_through_every_node_reach_every_node(cluster: Cluster) -> None:
    founder = cluster.founder
    buyer = cluster.admit(founder, "CORE_ENTERPRISE")
    sellers = [cluster.admit(node, "SUPPLIER") for node in cluster.validators]
    answers = {}
    for number, seller in enumerate(sellers, start=10_000_001):
        key = f"invoice-{number}"
        created = _store_and_register(seller, buyer.id, number, key)
        assert created.status_code == 201, created.text
        answers[key] = (seller, number, created.json())
    # the same Idempotency-Key again: the same answer, nothing sent twice
    for key, (seller, number, first) in answers.items():
        again = _store_and_register(seller, buyer.id, number, key)
        assert again.status_code == 201
        assert again.json() == first
    height, blocks = _same_chain(cluster.nodes)
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    # every node's read model holds every invoice, as the buyer reads it through that node
    expected = sorted(a[2]["key"] for a in answers.values())
    for node in cluster.nodes:
        listed = _invoices_when(cluster.member(buyer.id, node), len(expected))
        assert sorted(i["key"] for i in listed) == expected
        amounts = {i["key"]: i["amount"] for i in listed}
        assert amounts == {a[2]["key"]: a[2]["amount"] for a in answers.values()}
    for node in cluster.nodes:
        verified = cli("verify", "--home", str(node.home))
        assert "Verified" in verified.stdout, verified.stdout
        assert "Reconciled" in verified.stdout, verified.stdout


def test_a_node_down_for_longer_than_etcds_window_catches_up_from_peers(
    cluster: Cluster,
) -> None:
    from chain.consortium.block_log import BlockLog
    from chain.consortium.etcd import EtcdClient
    from chain.consortium.keys import ChainKeys

    learner = cluster.learner
    learner.stop()
    stopped_at = max(node.head() for node in cluster.validators)
    for _ in range(RETAIN_BLOCKS + 3):  # a block each
        cluster.faucet_transfer(cluster.validators[1])
    with EtcdClient(cluster.etcd.endpoints) as client:
        log = BlockLog(client, ChainKeys(cluster.chain_id))
        assert wait_for(lambda: log.oldest() > stopped_at + 1, "etcd to drop old blocks")
    learner.start()
    height, blocks = _same_chain(cluster.nodes)
    assert height > stopped_at + RETAIN_BLOCKS
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    assert learner.consortium()["role"] == "learner"


def test_a_forward_is_taken_only_from_an_allowed_node(cluster: Cluster) -> None:
    minter = next(n for n in cluster.validators if n.consortium()["role"] == "minter")

    def forward(params: list[object]) -> dict[str, object]:
        body = {"jsonrpc": "2.0", "id": 1, "method": FORWARD_METHOD, "params": params}
        answer: dict[str, object] = httpx.post(minter.rpc_url, json=body, timeout=10).json()
        return answer

    stranger = NodeKey(os.urandom(32))
    refused = forward(sign_forward(stranger, cluster.chain_id, [b"\x02"]))
    assert "not on the allow-list" in str(refused["error"])
    forged = sign_forward(stranger, cluster.chain_id, [b"\x02"])
    forged[2] = "0x" + NodeKey(os.urandom(32)).public_key.hex()  # claims another node's key
    assert "signature" in str(forward(forged)["error"])
    stale = sign_forward(stranger, cluster.chain_id, [b"\x02"])
    stale[1] = int(time.time()) - 3600
    assert "timestamp" in str(forward(stale)["error"])


def test_join_refuses_a_descriptor_whose_genesis_does_not_match(
    cluster: Cluster, tmp_path: Path
) -> None:
    descriptor = json.loads(cluster.descriptor.read_text())
    descriptor["genesis_timestamp"] += 1
    damaged = tmp_path / "network.json"
    damaged.write_text(json.dumps(descriptor))
    refused = cli(
        "join", "--home", str(tmp_path / "home"), "--descriptor", str(damaged),
        "--etcd", cluster.endpoints, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "genesis" in refused.stdout
    left = tmp_path / "home"
    assert not NodeHome(left).existing_parts()  # no half-made home
    assert not (left / "network.json").exists()
    assert not (left / "keys").exists()


class _Load:
    """Sellers writing invoices without pause, each through its own node, re-sending a
    write under the same Idempotency-Key until it is answered 201 (a client's rule)."""

    def __init__(self, sellers: list[Member], buyer_id: int) -> None:
        self.sellers = sellers
        self.buyer_id = buyer_id
        self.created: dict[str, tuple[Member, int, dict[str, Any]]] = {}
        self.refusals: list[str] = []
        self._stop = threading.Event()
        self._numbers = iter(range(20_000_001, 29_999_999))
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._write, args=(seller,), daemon=True) for seller in sellers
        ]

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(300)

    def count(self) -> int:
        with self._lock:
            return len(self.created)

    def _write(self, seller: Member) -> None:
        while not self._stop.is_set():
            with self._lock:
                number = next(self._numbers)
            key = f"load-{number}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    answer = _store_and_register(seller, self.buyer_id, number, key)
                except httpx.HTTPError as exc:  # the answer was lost: send it again
                    self.refusals.append(f"{key}: {exc!r}")
                    continue
                if answer.status_code == 201:
                    with self._lock:
                        self.created[key] = (seller, number, answer.json())
                    break
                self.refusals.append(f"{key}: {answer.status_code} {answer.text[:200]}")
                if answer.status_code < 500 and answer.status_code not in (409, 429):
                    raise AssertionError(f"{key} refused: {answer.text}")
                time.sleep(0.5)  # a 503 while the minter changes: the client waits a little
            else:
                raise AssertionError(f"{key} never answered 201: {self.refusals[-3:]}")


def _upload(member: Member, content: bytes, party_ids: list[int]) -> str:
    body = {
        "filename": "agreement.txt",
        "content_type": "text/plain",
        "content": base64.b64encode(content).decode(),
        "party_ids": party_ids,
    }
    stored = member.post("/v1/documents", body)
    assert stored.status_code == 201, stored.text
    digest: str = stored.json()["hash"]
    return digest


def _read_when_there(member: Member, digest: str) -> httpx.Response:
    def read() -> httpx.Response | None:
        answer = member.get(f"/v1/documents/{digest}")
        return answer if answer.status_code == 200 else None

    found: httpx.Response = wait_for(
        read, f"document {digest} at {member.home.name}", DELIVERY_WAIT
    )
    return found


def test_a_document_reaches_the_party_at_its_own_institution_only(cluster: Cluster) -> None:
    founder, bank, suppliers = cluster.validators
    core = cluster.admit(founder, "CORE_ENTERPRISE")
    supplier = cluster.admit(bank, "SUPPLIER")
    outsider = cluster.admit(suppliers, "SUPPLIER")

    content = b"supply agreement: Core (founder's node) and a supplier at the bank's node"
    digest = _upload(core, content, [supplier.id])
    answer = _read_when_there(supplier, digest)
    assert answer.content == content
    assert answer.headers["X-Document-Hash"] == digest
    verified = supplier.get(f"/v1/documents/{digest}/verify").json()
    assert verified["intact"] is True

    # the supplier at the third institution: from its own node, and with keys at the others
    for node in cluster.nodes:
        reader = outsider if node is suppliers else cluster.member(outsider.id, node)
        assert reader.get(f"/v1/documents/{digest}").status_code == 404

    # sent while the bank's node is down: there once it is back
    bank.stop()
    later = b"amendment 1, sent while the bank's node was down"
    second = _upload(core, later, [supplier.id])
    bank.start()
    assert _read_when_there(supplier, second).content == later


def test_kill_9_of_the_minter_and_an_etcd_member_under_load(cluster: Cluster) -> None:
    """The minter's scf-node and an etcd member (its institution's, say) die at once: a
    majority of etcd lives, another validator mints, writes go on; both come back."""
    minter = next(n for n in cluster.validators if n.consortium()["role"] == "minter")
    etcd_member = cluster.etcd.members[0]
    others = [n for n in cluster.validators if n is not minter]
    buyer = cluster.admit(cluster.founder, "CORE_ENTERPRISE")
    sellers = [cluster.admit(node, "SUPPLIER") for node in others]
    with _Load(sellers, buyer.id) as load:
        wait_for(lambda: load.count() >= 4, "writes before the kill")
        minter.kill()
        cluster.etcd.kill(etcd_member)
        before = load.count()
        wait_for(
            lambda: any(n.consortium()["role"] == "minter" for n in others),
            "another validator to mint",
        )
        wait_for(lambda: load.count() >= before + 6, "writes after the kill")
        cluster.etcd.restart(etcd_member)
        cluster.etcd.wait_healthy([etcd_member])
        minter.start()  # the killed node restarts and catches up from the log
        wait_for(lambda: load.count() >= before + 10, "writes after the restart")
    roles = sorted(n.consortium()["role"] for n in cluster.validators)
    assert roles == ["minter", "verifier", "verifier"], roles  # one minter, the killed one back
    height, blocks = _same_chain(cluster.nodes)
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    created = load.created
    expected = sorted(answer["key"] for _, _, answer in created.values())
    for node in cluster.nodes:  # every 201 is on every node, once
        listed = _invoices_when(cluster.member(buyer.id, node), len(expected))
        assert sorted(i["key"] for i in listed) == expected
    for key, (seller, number, first) in created.items():  # re-sent keys: the same answer
        again = _store_and_register(seller, buyer.id, number, key)
        assert again.status_code == 201
        assert again.json() == first
    _, blocks = _same_chain(cluster.nodes)
    assert len(blocks) == 1


def test_a_stopped_home_takes_no_transaction(cluster: Cluster, tmp_path: Path) -> None:
    """A command that opens a stopped consortium home's ledger itself must never seal a
    block of its own (it exists nowhere else): the ledger refuses every transaction."""
    from eth_account import Account

    from chain.backends.embedded import DEV_FAUCET_KEY
    from chain.errors import TransactionRefused
    from nodes.connect import connected

    home = tmp_path / "stopped"
    cli(
        "join", "--home", str(home), "--descriptor", str(cluster.descriptor),
        "--etcd", cluster.endpoints, "--learner",
    )  # fmt: skip
    with connected(NodeHome(home)) as connection:
        ledger = connection.ledger
        head = ledger.block_number()
        assert head > 0  # join synced it from the log
        faucet = Account.from_key(DEV_FAUCET_KEY)
        transfer = faucet.sign_transaction(
            {
                "to": faucet.address,
                "value": 1,
                "gas": 21_000,
                "nonce": ledger.get_transaction_count(faucet.address, "pending"),
                "chainId": ledger.chain_id,
                **ledger.fee_params(),
            }
        )
        with pytest.raises(TransactionRefused, match="consortium node is stopped"):
            ledger.send_raw_transaction(bytes(transfer.raw_transaction))
        assert ledger.block_number() == head


def test_a_node_whose_store_was_tampered_with_halts_and_says_so(cluster: Cluster) -> None:
    """A block sealed into a learner's store behind the network's back (its own store,
    opened by hand): the node refuses the network's next block, halts, and says so on
    /healthz (503), /metrics, status and to writers."""
    auditor = cluster.join("auditor", learner=True)
    try:
        _tamper_and_watch_it_halt(cluster, auditor)
    finally:
        auditor.kill()
    for node in cluster.nodes:  # the others go on, on one chain
        assert node.consortium()["halted"] is None


def _tamper_and_watch_it_halt(cluster: Cluster, auditor: Institution) -> None:
    from chain.backends.embedded import EmbeddedLedger

    auditor.stop()
    settings = json.loads((auditor.home / "node.json").read_text())
    tampered = EmbeddedLedger(auditor.home / "chain", chain_id=settings["chain_id"], dev=True)
    try:
        tampered.fund("0x" + "ab" * 20, 1)  # a block that exists in this store only
    finally:
        tampered.close()
    auditor.start()
    validator = cluster.validators[1]
    for _ in range(2):  # the network moves on: its next blocks do not fit the forged one
        cluster.faucet_transfer(validator)
    health = wait_for(
        lambda: (lambda r: r if r.status_code == 503 else None)(
            httpx.get(f"{auditor.api_url}/healthz", timeout=10)
        ),
        "the tampered node to halt",
    )
    assert "halted" in health.json()["error"]["message"]
    assert auditor.consortium()["role"] == "halted"
    metrics = httpx.get(f"{auditor.api_url}/metrics", timeout=10).text
    assert "scf_consortium_halted 1.0" in metrics
    assert 'scf_consortium_role{role="halted"} 1.0' in metrics
    shown = json.loads(cli("status", "--home", str(auditor.home), "--json").stdout)
    assert shown["consortium"]["halted"]
    refused = httpx.post(
        auditor.rpc_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x02"]},
        timeout=10,
    ).json()
    assert "halted" in refused["error"]["message"]
