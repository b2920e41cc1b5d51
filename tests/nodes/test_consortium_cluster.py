"""Three institutions and a regulator on loopback, as real processes (issue 24): three etcd
members, ``scf-node init --consortium`` at the core enterprise's institution, ``scf-node
join`` at a bank's, the suppliers' and a regulator's (learner). One cluster for the
module (``consortium_cluster.found``, the product's launcher): each node costs seconds to
start. ``scf-node bench --consortium`` and ``scf-node demo --consortium`` run on it too
(``--cluster``). The tests run in file order; the ones that kill, stop or time-travel
leave the cluster running and come where they harm none after them: the demo moves the
chain's clock past its certificates' maturity, the late join adds a fourth validator,
and the tamper test is last."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from chain.consortium.seal import NodeKey
from nodes.cli import app
from nodes.consortium.forward import FORWARD_METHOD, sign_forward
from nodes.consortium.local_cluster import LocalConsortium, LocalNode
from nodes.consortium.local_etcd import EtcdMember
from nodes.home import NodeHome
from scripts.bench.results import ConsortiumOptions
from tests.chain.consortium.etcd_cluster import etcd_binary
from tests.nodes.consortium_cluster import (
    RETAIN_BLOCKS,
    VALIDATORS,
    Member,
    admit,
    cli,
    faucet_transfer,
    found,
    invoice,
    learner,
    member,
    network_descriptor,
    same_chain,
    wait_for,
)

WAIT = 90.0
DELIVERY_WAIT = 120.0  # a home published (every few seconds), then a backoff of at most 30 s


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    etcd_binary()  # skips without etcd (fails under CI, which installs it)
    built = found(tmp_path_factory.mktemp("consortium"))
    try:
        yield built
    finally:
        built.stop()


def _store_and_register(
    seller: Member,
    buyer_id: int,
    number: int,
    key: str,
    sending: threading.Event | None = None,
) -> httpx.Response:
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
    if sending is not None:
        sending.set()
    return seller.post("/v1/invoices", body, key=key)


def _invoices_when(reader: Member, count: int) -> list[dict[str, Any]]:
    """The invoices ``reader`` sees through its node (every page), once its read model
    holds ``count``."""

    def listed() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = []
        while True:
            page = reader.get(f"/v1/invoices?limit=500&offset={len(items)}").json()
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items if len(items) >= count else None

    found: list[dict[str, Any]] = wait_for(listed, f"{count} invoices at {reader.home.name}")
    return found


def test_roles_and_cluster_status(cluster: LocalConsortium) -> None:
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
    status = cli("status", "--home", str(learner(cluster).home), "--json")
    shown = json.loads(status.stdout)["consortium"]
    assert shown["role"] == "learner"
    assert shown["minter"] == minter.rpc_url
    assert len(shown["etcd"]) == 3
    assert all(e["healthy"] for e in shown["etcd"])
    assert {n["endpoint"] for n in shown["nodes"]} == {n.rpc_url for n in cluster.validators}
    assert all(n["reachable"] and n["lag"] is not None for n in shown["nodes"])
    wait_for(  # other institutions' roles and heads, from their heartbeats in etcd
        lambda: _live_roles(learner(cluster)) == {n.rpc_url: roles[n.name] for n in cluster.nodes},
        "the learner's status to show every node's role and head",
    )


def _live_roles(at: LocalNode) -> dict[str, str]:
    shown = json.loads(cli("status", "--home", str(at.home), "--json").stdout)["consortium"]
    seen = shown["nodes"] + shown["other_nodes"]
    return {n["endpoint"]: n["role"] for n in seen if isinstance(n["head"], int)}


def test_writes_through_every_node_reach_every_node(cluster: LocalConsortium) -> None:
    founder = cluster.founder
    buyer = admit(cluster, founder, "CORE_ENTERPRISE")
    sellers = [admit(cluster, node, "SUPPLIER") for node in cluster.validators]
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
    height, blocks = same_chain(cluster)
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    # every node's read model holds every invoice, as the buyer reads it through that node
    expected = sorted(a[2]["key"] for a in answers.values())
    for node in cluster.nodes:
        listed = _invoices_when(member(cluster, buyer.id, node), len(expected))
        assert sorted(i["key"] for i in listed) == expected
        amounts = {i["key"]: i["amount"] for i in listed}
        assert amounts == {a[2]["key"]: a[2]["amount"] for a in answers.values()}
    with ThreadPoolExecutor(len(cluster.nodes)) as pool:  # each waits on its own node
        verifications = list(
            pool.map(lambda n: cli("verify", "--home", str(n.home)), cluster.nodes)
        )
    for verified in verifications:
        assert "Verified" in verified.stdout, verified.stdout
        assert "Reconciled" in verified.stdout, verified.stdout


def test_a_forward_is_taken_only_from_an_allowed_node(cluster: LocalConsortium) -> None:
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
    cluster: LocalConsortium, tmp_path: Path
) -> None:
    descriptor = network_descriptor(cluster)
    descriptor["genesis_timestamp"] += 1
    damaged = tmp_path / "network.json"
    damaged.write_text(json.dumps(descriptor))
    refused = cli(
        "join", "--home", str(tmp_path / "home"), "--descriptor", str(damaged),
        "--etcd", cluster.etcd.endpoints, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "genesis" in refused.stdout
    left = tmp_path / "home"
    assert not NodeHome(left).existing_parts()  # no half-made home
    assert not (left / "network.json").exists()
    assert not (left / "keys").exists()


def test_a_stopped_home_takes_no_transaction(cluster: LocalConsortium, tmp_path: Path) -> None:
    """A command that opens a stopped consortium home's ledger itself must never seal a
    block of its own (it exists nowhere else): the ledger refuses every transaction."""
    from eth_account import Account

    from chain.backends.embedded import DEV_FAUCET_KEY
    from chain.errors import TransactionRefused
    from nodes.connect import connected

    home = tmp_path / "stopped"
    cli(
        "join", "--home", str(home), "--descriptor", str(cluster.descriptor),
        "--etcd", cluster.etcd.endpoints, "--learner",
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


def test_a_document_reaches_the_party_at_its_own_institution_only(cluster: LocalConsortium) -> None:
    founder, bank, suppliers = cluster.validators
    core = admit(cluster, founder, "CORE_ENTERPRISE")
    supplier = admit(cluster, bank, "SUPPLIER")
    outsider = admit(cluster, suppliers, "SUPPLIER")

    content = b"supply agreement: Core (founder's node) and a supplier at the bank's node"
    digest = _upload(core, content, [supplier.id])
    answer = _read_when_there(supplier, digest)
    assert answer.content == content
    assert answer.headers["X-Document-Hash"] == digest
    verified = supplier.get(f"/v1/documents/{digest}/verify").json()
    assert verified["intact"] is True

    # the supplier at the third institution: from its own node, and with keys at the others
    for node in cluster.nodes:
        reader = outsider if node is suppliers else member(cluster, outsider.id, node)
        assert reader.get(f"/v1/documents/{digest}").status_code == 404

    # sent while the bank's node is down: there once it is back
    bank.stop()
    later = b"amendment 1, sent while the bank's node was down"
    second = _upload(core, later, [supplier.id])
    bank.start()
    assert _read_when_there(supplier, second).content == later


def test_a_node_down_for_longer_than_etcds_window_catches_up_from_peers(
    cluster: LocalConsortium,
) -> None:
    from chain.consortium.block_log import BlockLog
    from chain.consortium.etcd import EtcdClient
    from chain.consortium.keys import ChainKeys

    regulator = learner(cluster)
    regulator.stop()
    stopped_at = max(node.head() for node in cluster.validators)
    for _ in range(RETAIN_BLOCKS + 3):  # a block each
        faucet_transfer(cluster, cluster.validators[1])
    with EtcdClient(cluster.etcd.urls) as client:
        log = BlockLog(client, ChainKeys(cluster.chain_id))
        assert wait_for(lambda: log.oldest() > stopped_at + 1, "etcd to drop old blocks")
    regulator.start()
    height, blocks = same_chain(cluster)
    assert height > stopped_at + RETAIN_BLOCKS
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    assert regulator.consortium()["role"] == "learner"


def test_quick_consortium_benchmark_reports_rates_ratio_and_failover(
    cluster: LocalConsortium, tmp_path: Path
) -> None:
    """``scf-node bench --consortium --quick`` on this cluster (``--cluster``): the single
    node and the cluster on the same transfers, then a kill -9 of the minter and the
    seconds until another node answers a transfer 201 (not timed: the figures' shape)."""
    figures = tmp_path / "bench.json"
    command = ["bench", "--consortium", "--quick", "--json", str(figures)]
    result = CliRunner().invoke(
        app, [*command, "--cluster", str(cluster.directory)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(figures.read_text("utf-8"))
    quick = ConsortiumOptions.quick()
    assert report["options"] == {
        "transfers": quick.transfers,
        "clients": quick.clients,
        "kills": quick.kills,
    }
    assert report["single_tx_per_s"] > 0
    assert report["cluster_tx_per_s"] > 0
    assert report["ratio"] == report["cluster_tx_per_s"] / report["single_tx_per_s"]
    assert len(report["failover_seconds"]) == quick.kills
    assert all(seconds > 0 for seconds in report["failover_seconds"])
    assert report["failover_max_s"] == max(report["failover_seconds"])
    assert set(report["targets_met"]) == {"cluster / single node >= 40%", "failover median <= 5 s"}
    for row in ("single node", "three institutions", "cluster / single node", "median", "max"):
        assert row in result.output, row
    assert all(node.running for node in cluster.nodes)  # the killed minter is back


class _Load:
    """Sellers writing invoices without pause, each through its own node, re-sending a
    write under the same Idempotency-Key until it is answered 201 (a client's rule)."""

    def __init__(self, sellers: list[Member], buyer_id: int) -> None:
        self.sellers = sellers
        self.buyer_id = buyer_id
        self.created: dict[str, tuple[Member, int, dict[str, Any]]] = {}
        self.refusals: list[str] = []
        self.sending = threading.Event()  # set once the first invoice is on its way
        self.failures: list[str] = []
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
        assert not self.failures, self.failures  # a writer that gave up fails the test

    def count(self) -> int:
        with self._lock:
            return len(self.created)

    def _write(self, seller: Member) -> None:
        try:
            self._write_until_stopped(seller)
        except Exception as exc:  # told by ``__exit__``
            self.failures.append(f"seller {seller.id} at {seller.home.name}: {exc!r}")

    def _write_until_stopped(self, seller: Member) -> None:
        while not self._stop.is_set():
            with self._lock:
                number = next(self._numbers)
            key = f"load-{number}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    answer = _store_and_register(seller, self.buyer_id, number, key, self.sending)
                except httpx.HTTPError as exc:  # the answer was lost: send it again
                    self.refusals.append(f"{key}: {exc!r}")
                    time.sleep(0.1)  # its node is down: it is being started again
                    continue
                if answer.status_code == 201:
                    with self._lock:
                        self.created[key] = (seller, number, answer.json())
                    break
                self.refusals.append(f"{key}: {answer.status_code} {answer.text[:200]}")
                if answer.status_code < 500 and answer.status_code not in (409, 429):
                    raise AssertionError(f"{key} refused: {answer.text}")
                time.sleep(0.1)  # a 503 while the minter changes: the client waits a little
            else:
                raise AssertionError(f"{key} never answered 201: {self.refusals[-3:]}")


def test_kill_9_of_the_minter_at_three_moments_under_load(cluster: LocalConsortium) -> None:
    """kill -9 of the minter's scf-node three times while sellers write through every
    validator, at moments that take different paths:

    1. as the burst starts, the first invoices on their way: transactions forwarded to
       the minter sit in its pool, in no block; the clients' re-sends under the same
       Idempotency-Keys reach the next minter, which applies them once;
    2. the instant etcd committed a block the minter appended (the log's head moved):
       the block is final though its minter died before publishing it and answering its
       201s; the next minter imports it, and the re-sent keys find their transactions
       applied there, not applied again;
    3. mid-burst, together with its institution's etcd member: a majority of etcd lives.

    Each time another validator mints and writes go on; the killed node (and etcd member)
    restarts and catches up before the next kill (the next moment's writes go on with it).
    Then every 201 is on every node once, every re-sent key answers the same, one minter,
    one chain."""
    from chain.consortium.block_log import BlockLog
    from chain.consortium.etcd import EtcdClient
    from chain.consortium.keys import ChainKeys

    buyer = admit(cluster, cluster.founder, "CORE_ENTERPRISE")
    sellers = [admit(cluster, node, "SUPPLIER") for node in cluster.validators]
    with (
        EtcdClient(cluster.etcd.urls) as client,
        _Load(sellers, buyer.id) as load,
    ):
        log = BlockLog(client, ChainKeys(cluster.chain_id))

        def head() -> int:
            found = log.head()
            assert found is not None
            return found.height

        # 1. as the burst starts
        minter = cluster.wait_for_minter(WAIT)
        assert load.sending.wait(WAIT), "no invoice was sent"
        _kill_and_fail_over(cluster, load, minter)

        # 2. the instant etcd committed a block of the minter's
        minter = cluster.wait_for_minter(WAIT)
        appended = head()
        deadline = time.monotonic() + WAIT
        while head() == appended:  # no pause: the minter is publishing it right now
            assert time.monotonic() < deadline, "no block appended under load"
        _kill_and_fail_over(cluster, load, minter)

        # 3. mid-burst, with its institution's etcd member
        minter = cluster.wait_for_minter(WAIT)
        written = load.count()
        wait_for(lambda: load.count() >= written + 4, "writes mid-burst")
        etcd_member = next(m for m in cluster.etcd.members if m.name == f"etcd-{minter.name}")
        _kill_and_fail_over(cluster, load, minter, etcd_member)
        restarted = load.count()
        wait_for(lambda: load.count() >= restarted + 3, "writes with every node back")

    roles = sorted(str(n.role()) for n in cluster.validators)
    assert roles == ["minter", "verifier", "verifier"], roles  # one minter, the killed back
    height, blocks = same_chain(cluster)
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    created = load.created
    expected = sorted(answer["key"] for _, _, answer in created.values())
    for node in cluster.nodes:  # every 201 is on every node, once
        listed = _invoices_when(member(cluster, buyer.id, node), len(expected))
        assert sorted(i["key"] for i in listed) == expected
    _resend_all(created, buyer.id)
    _, blocks = same_chain(cluster)
    assert len(blocks) == 1


def _resend_all(created: dict[str, tuple[Member, int, dict[str, Any]]], buyer_id: int) -> None:
    """Every write sent again under its Idempotency-Key: the same answer (side by side,
    as many clients would)."""

    def resend(key: str) -> None:
        seller, number, first = created[key]
        again = _store_and_register(seller, buyer_id, number, key)
        assert again.status_code == 201, again.text
        assert again.json() == first

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(resend, created))


def _kill_and_fail_over(
    cluster: LocalConsortium,
    load: _Load,
    minter: LocalNode,
    etcd_member: EtcdMember | None = None,
) -> None:
    """kill -9 of ``minter`` (and ``etcd_member``); another validator mints and answers
    writes; both start again and the node catches up."""
    minter.kill()
    if etcd_member is not None:
        cluster.etcd.kill(etcd_member)
    others = [n for n in cluster.validators if n is not minter]
    before = load.count()
    cluster.wait_for_minter(WAIT, others)
    if etcd_member is not None:
        cluster.etcd.launch(etcd_member)
    minter.launch()  # it starts (and catches up from the log) while the others write
    wait_for(lambda: load.count() >= before + 3, f"writes after the kill of {minter.name}")
    if etcd_member is not None:
        cluster.etcd.wait_healthy([etcd_member])
    minter.wait_healthy()


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SCF_PASSPHRASE", "SCF_DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "nodes", "demo", "--consortium", *args],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env | {"COLUMNS": "200"},
    )


def test_the_story_across_three_institutions_survives_the_minters_kill(
    cluster: LocalConsortium,
) -> None:
    """``scf-node demo --consortium`` as a real process, on this cluster (``--cluster``):
    the story across the three institutions, kill -9 of the minter mid-story, every
    figure checked on every node; it exits non-zero on any difference. It moves the
    chain's clock past the story's maturity: no test after it registers invoices."""
    directory = cluster.directory
    result = _demo("--cluster", str(directory))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # each company acted through its own institution's node
    for company, institution in (
        ("Qingdao Hearth Home Appliances", "core"),
        ("Bank of the Yellow Sea", "bank"),
        ("Wuhu Copper Winding Wire", "suppliers"),
    ):
        assert re.search(rf"{company}[^\n]*│ {institution} ", output), output
    for landmark in (
        "kill -9 of the minter",
        "InvoiceAlreadyRegistered",
        "FinancingRateAboveAccepted",
        "Tier 3 sold 300000.00",
        "Every node: the same head block",
        "every figure matched on every node",
    ):
        assert landmark in output, output
    killed = re.search(r"kill -9 of the minter \(the (\w+) node\), the (\w+) node minted", output)
    assert killed, output
    assert killed.group(1) != killed.group(2)
    assert {killed.group(1), killed.group(2)} <= set(VALIDATORS)
    # the check table: one row per node, all at the same head with one state root
    rows = re.findall(r"│ (core|bank|suppliers) +│ (minter|verifier) +│ (\d+) +│ (0x\w+)…", output)
    assert sorted(row[0] for row in rows) == sorted(VALIDATORS), output
    assert len({row[2:] for row in rows}) == 1, rows
    assert sorted(row[1] for row in rows) == ["minter", "verifier", "verifier"]
    for institution in VALIDATORS:  # real homes, made by init --consortium and join
        assert (directory / institution / "node.json").exists()
        assert (directory / institution / "network.json").exists()
    assert all(node.running for node in cluster.nodes)  # the killed minter is back


def test_a_consortium_demo_refuses_a_running_node_and_a_directory_without_a_cluster(
    tmp_path: Path,
) -> None:
    result = _demo("--api-url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "no --api-url" in result.stdout
    result = _demo("--cluster", str(tmp_path))
    assert result.returncode == 1
    assert "holds no local consortium" in result.stdout


def test_cluster_is_refused_without_consortium_and_a_non_empty_directory(tmp_path: Path) -> None:
    from nodes.consortium.local_cluster import main

    for command in ("demo", "bench"):
        refused = CliRunner().invoke(app, [command, "--cluster", str(tmp_path)])
        assert refused.exit_code == 2, refused.output
        assert "--cluster goes with --consortium" in refused.output
    (tmp_path / "something").write_text("")
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path)])
    assert exited.value.code == 2


def test_a_fourth_institution_joins_late_by_vote_and_catches_up_from_peers(
    cluster: LocalConsortium,
) -> None:
    """An insurer's institution joins when etcd no longer holds the chain's first blocks
    (``scf-node join``, its certificate, a committee vote, ``scf-node start``): its node
    takes those blocks from a peer and verifies them, agrees with every node, and is a
    validator: a transaction sent through it is forwarded to the minter, which takes
    forwards from allowed nodes only."""
    from chain.consortium.block_log import BlockLog
    from chain.consortium.etcd import EtcdClient
    from chain.consortium.keys import ChainKeys

    with EtcdClient(cluster.etcd.urls) as client:
        oldest = BlockLog(client, ChainKeys(cluster.chain_id)).oldest()
    assert oldest > RETAIN_BLOCKS  # blocks 1 .. oldest - 1 live on the nodes only
    insurer = cluster.join("insurer")
    assert insurer.role() in ("verifier", "minter")
    assert insurer.block(1) == cluster.founder.block(1)
    faucet_transfer(cluster, insurer)
    height, blocks = same_chain(cluster)
    assert len(blocks) == 1, f"nodes differ at block {height}: {blocks}"
    shown = json.loads(cli("status", "--home", str(insurer.home), "--json").stdout)
    assert insurer.rpc_url in {n["endpoint"] for n in shown["consortium"]["nodes"]}


def test_a_node_whose_store_was_tampered_with_halts_and_says_so(cluster: LocalConsortium) -> None:
    """A block sealed into the regulator's store behind the network's back (its own
    store, opened by hand): the node refuses the network's next block, halts, and says so
    on /healthz (503), /metrics, status and to writers. Last: the regulator stays halted."""
    regulator = learner(cluster)
    _tamper_and_watch_it_halt(cluster, regulator)
    for node in cluster.nodes:  # the others go on, on one chain
        if node is not regulator:
            assert node.consortium()["halted"] is None


def _tamper_and_watch_it_halt(cluster: LocalConsortium, auditor: LocalNode) -> None:
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
        faucet_transfer(cluster, validator)
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
