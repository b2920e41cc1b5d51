"""A second institution's API node on an existing external-network deployment (issue 24).

One anvil (standing in for Besu or GoQuorum) and two institutions, as real processes:
``scf-node init --ledger-url`` at the founder deploys the consortium and writes the
network descriptor; ``scf-node join --descriptor --ledger-url`` makes the second
institution's home from it, its node certificate signed at the founder; each runs
``scf-node start`` over the same network with its own read model, API keys and custodial
keys. Members at both institutions trade a certificate and govern through their own nodes.
The failure modes: another network under the descriptor's chain id, a chain id that does
not match, a descriptor without addresses or damaged, a second join into a home, a write
by a company not admitted.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from api.client import ApiError, ScfClient
from chain.backends.rpc import RpcLedger
from chain.credit_code import make_credit_code
from nodes.cli import app
from nodes.consortium.descriptor import (
    DescriptorInvalid,
    ExternalNetworkDescriptor,
    NetworkDescriptor,
    read_descriptor,
)
from nodes.consortium.stack import node_key_of
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.ports import free_port
from tests.chain.anvil import anvil
from tests.nodes.test_external_ledger import (
    ANVIL_CHAIN_ID,
    ZERO_FEES,
    RunningNode,
    runner,
    said,
    scf_node,
    start_node,
    stop_node,
)

ENV = {"COLUMNS": "200", "SCF_PASSPHRASE": DEV_PASSPHRASE}


def cli(*args: str, code: int = 0) -> str:
    """``scf-node ARGS`` in process; its output, Rich's wrapping undone."""
    result = runner.invoke(app, list(args), env=ENV)
    assert result.exit_code == code, result.output
    return said(result.output)


def cli_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@dataclass
class Network:
    url: str
    founder: NodeHome
    second: NodeHome  # the joining institution's home
    joined: dict[str, Any]  # what `join --json` said
    directory: Path

    @property
    def descriptor(self) -> Path:
        return self.founder.path / "network.json"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    directory = tmp_path_factory.mktemp("external-join")
    founder, second = NodeHome(directory / "founder"), NodeHome(directory / "second")
    with anvil(*ZERO_FEES) as url:
        done = scf_node("init", "--home", str(founder.path), "--ledger-url", url, "--dev")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Network descriptor: {founder.path / 'network.json'}" in said(done.stdout)
        node_key = node_key_of(founder, DEV_PASSPHRASE).public_key.hex()
        assert f"Node key 0x{node_key}: to exchange private documents" in said(done.stdout)
        done = scf_node(
            "join", "--home", str(second.path), "--descriptor",
            str(founder.path / "network.json"), "--ledger-url", url, "--json",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        joined = json.loads(done.stdout)
        certificate = directory / "second-node.pem"
        cli(
            "node", "certify", joined["certificate_request"], "--out", str(certificate),
            "--name", "second institution", "--home", str(founder.path),
        )  # fmt: skip
        cli("node", "install-certificate", str(certificate), "--home", str(second.path))
        for home in (founder, second):  # each serves private documents on a port of its own
            listen = f"127.0.0.1:{free_port()}"
            home.write_settings(home.read_settings() | {"documents": {"listen": listen}})
        yield Network(url, founder, second, joined, directory)


@pytest.fixture(scope="module")
def nodes(network: Network) -> Iterator[tuple[RunningNode, RunningNode]]:
    """Both institutions' nodes running over the one network."""
    first = start_node(network.founder, network.directory / "founder.log")
    try:
        second = start_node(network.second, network.directory / "second.log")
    except BaseException:
        stop_node(first)
        raise
    yield first, second
    stop_node(second)
    stop_node(first)


_serial = iter(range(1, 10_000))


def company(prefix: str = "9137") -> str:
    return make_credit_code(f"{prefix}{int(time.time()) % 10**8:08d}{next(_serial):05d}")


def admit_at_founder(node: RunningNode, name: str, role: str) -> tuple[ScfClient, int]:
    """A company applying at the founder's node, admitted by its governor (admin mode)."""
    applied = ScfClient(node.api_url).apply(name, company(), [role])
    node.client().post(
        "/v1/governance/proposals", {"kind": "admit_member", "application_id": applied["id"]}
    )
    member = ScfClient(node.api_url, applied["api_key"])
    return member, int(member.wait_until_admitted()["id"])


def admit_at_second(
    network: Network, node: RunningNode, name: str, role: str
) -> tuple[ScfClient, str]:
    """A member of the second institution: its key made and kept there, its admission
    proposed by the founder's governor, its API key issued by its own node."""
    account = cli_json("member", "new-account", "--home", str(network.second.path))["account"]
    outcome = cli_json(
        "member", "propose-admit", "--name", name, "--credit-code", company(), "--role", role,
        "--account", account, "--home", str(network.founder.path),
    )  # fmt: skip
    assert outcome["state"] == "EXECUTED", outcome
    issued = cli_json("member", "api-key", str(outcome["member_id"]), "--home", str(node.home.path))
    member = ScfClient(node.api_url, issued["key"])
    assert wait_for(lambda: indexed(member), "the member at its node")["id"] == outcome["member_id"]
    return member, str(issued["key"])


def indexed(member: ScfClient) -> Any:
    """The member's record once its node indexed the admission (a key issued for a member
    the read model does not know yet answers 401 until then)."""
    try:
        return member.me()
    except ApiError as exc:
        if exc.status != 401:
            raise
        return None


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # poll interval, bounded by the deadline


# ---- the descriptor and the joined home --------------------------------------------------


def test_init_writes_the_descriptor_of_its_network(network: Network) -> None:
    descriptor = read_descriptor(network.descriptor)
    assert isinstance(descriptor, ExternalNetworkDescriptor)
    raw = json.loads(network.descriptor.read_text())
    assert (raw["route"], raw["version"], raw["chain_id"]) == ("rpc", 2, ANVIL_CHAIN_ID)
    assert "etcd_endpoints" not in raw
    ledger = RpcLedger(network.url)
    try:
        assert descriptor.genesis_hash == "0x" + bytes(ledger.get_block(0)["hash"]).hex()
    finally:
        ledger.close()
    deployment = json.loads(network.founder.deployment.read_text())
    assert descriptor.contracts == deployment["contracts"]
    assert descriptor.deployment_block == deployment["deployment_block"] >= 1
    assert (
        descriptor.ca_certificate == (network.founder.path / "consortium-ca" / "ca.pem").read_text()
    )


def test_join_makes_a_home_on_the_same_deployment_with_keys_of_its_own(network: Network) -> None:
    second, founder = network.second, network.founder
    settings = second.read_settings()
    settings.pop("documents")  # the fixture named its document endpoint
    assert settings == {
        "ledger": "rpc",
        "ledger_url": network.url,
        "chain_id": ANVIL_CHAIN_ID,
        "dev": True,
    }
    assert not second.chain_dir.exists()
    ours, theirs = (json.loads(h.deployment.read_text()) for h in (second, founder))
    assert ours == theirs  # the same contracts and deployment block: nothing deployed
    assert second.read_keystore(DEV_PASSPHRASE).address == network.joined["governor"]
    assert network.joined["governor"] != founder.read_keystore(DEV_PASSPHRASE).address
    # its node certificate, issued by the founder's consortium CA for its own key
    consortium_ca = x509.load_pem_x509_certificate(
        (founder.path / "consortium-ca" / "ca.pem").read_bytes()
    )
    issued = (second.pki_dir / "consortium" / "node.pem").read_bytes()
    x509.load_pem_x509_certificate(issued).verify_directly_issued_by(consortium_ca)
    # a node key of its own, whose public key join said (for its NodeRegistry entry)
    node_key = node_key_of(second, DEV_PASSPHRASE)
    assert "0x" + node_key.public_key.hex() == network.joined["public_key"]
    assert node_key.public_key != node_key_of(founder, DEV_PASSPHRASE).public_key
    # the founder's node serves documents with a certificate of its own CA, too
    founders = (founder.pki_dir / "consortium" / "node.pem").read_bytes()
    x509.load_pem_x509_certificate(founders).verify_directly_issued_by(consortium_ca)


# ---- what join refuses -------------------------------------------------------------------


def join(network: Network, home: Path, descriptor: Path, *extra: str, code: int = 1) -> str:
    """``scf-node join --ledger-url`` that fails with ``code``; it leaves no home."""
    args = ["join", "--home", str(home), "--descriptor", str(descriptor), *extra]
    output = cli(*args, *(() if "--etcd" in extra else ("--ledger-url", network.url)), code=code)
    assert not NodeHome(home).existing_parts()
    assert not (home / "network.json").exists()
    assert not (home / "keys").exists()
    return output


def damaged(network: Network, tmp_path: Path, **changes: Any) -> Path:
    raw = json.loads(network.descriptor.read_text()) | changes
    path = tmp_path / "network.json"
    path.write_text(json.dumps(raw))
    return path


def test_join_refuses_another_network_under_the_same_chain_id(
    network: Network, tmp_path: Path
) -> None:
    """A development node started afresh, or another network that chose the same id."""
    with anvil(*ZERO_FEES) as other:
        home = tmp_path / "home"
        args = ["join", "--home", str(home), "--descriptor", str(network.descriptor)]
        output = cli(*args, "--ledger-url", other, code=1)
        # a joined home pointed at it: its node refuses to start over another network
        moved = NodeHome(tmp_path / "moved")
        shutil.copytree(network.second.path, moved.path)
        moved.write_settings(moved.read_settings() | {"ledger_url": other})
        started = cli("start", "--home", str(moved.path), "--api-port", str(free_port()), code=1)
    assert f"the network at {other} has chain id {ANVIL_CHAIN_ID} but its block 0 is" in output
    assert "another network (or one started afresh) under the same chain id" in output
    assert not NodeHome(home).existing_parts()
    assert not (home / "keys").exists()
    assert f"The node cannot start: the network at {other} has chain id" in started
    assert "but its block 0 is" in started


def test_join_refuses_a_network_of_another_chain_id(network: Network, tmp_path: Path) -> None:
    other_chain = damaged(network, tmp_path, chain_id=8888)
    output = join(network, tmp_path / "home", other_chain)
    assert f"has chain id {ANVIL_CHAIN_ID}, the descriptor's is 8888" in output


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"contracts": {}}, "names no address for ConsortiumGovernance, CreditCertificates"),
        ({"genesis_hash": "0x1234"}, "the genesis hash is not 32 bytes of 0x-hex"),
        ({"deployment_block": -1}, "the chain id and deployment block are whole numbers"),
        ({"version": 3}, "descriptor version 3, this node reads 1, 2"),
        ({"route": "besu"}, "route 'besu' is neither 'etcd' nor 'rpc'"),
        ({"etcd_endpoints": ["http://127.0.0.1:2379"]}, "is no network descriptor"),
        ({"ca_certificate": "not a certificate"}, "the descriptor's consortium CA is no PEM"),
    ],
)
def test_join_refuses_a_descriptor_that_is_incomplete_or_not_one(
    network: Network, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    assert message in join(network, tmp_path / "home", damaged(network, tmp_path, **changes))


def test_join_refuses_a_tampered_descriptor_that_the_network_contradicts(
    network: Network, tmp_path: Path
) -> None:
    raw = json.loads(network.descriptor.read_text())
    moved = raw["contracts"] | {"CreditCertificates": "0x" + "12" * 20}  # no code there
    output = join(network, tmp_path / "home", damaged(network, tmp_path, contracts=moved))
    assert "holds no contract at the descriptor's address for CreditCertificates" in output

    forged = "0x" + "ab" * 32
    output = join(network, tmp_path / "other", damaged(network, tmp_path, genesis_hash=forged))
    assert f"the descriptor's is {forged}" in output


@pytest.mark.parametrize(
    ("first", "second"),
    [("CreditLines", "InvoiceRegistry"), ("MemberRegistry", "NodeRegistry")],
)
def test_join_refuses_a_descriptor_whose_addresses_are_exchanged(
    network: Network, tmp_path: Path, first: str, second: str
) -> None:
    """Both addresses hold code: each is checked to be the contract it is named for."""
    raw = json.loads(network.descriptor.read_text())["contracts"]
    exchanged = raw | {first: raw[second], second: raw[first]}
    output = join(network, tmp_path / "home", damaged(network, tmp_path, contracts=exchanged))
    assert "the descriptor's addresses on the network at" in output
    assert "are not the contracts they are named for" in output
    assert f"{first}: " in output
    assert f"{second}: " in output


def test_join_refuses_a_home_already_made_and_keeps_it(network: Network) -> None:
    home = network.second
    before = {p: p.read_bytes() for p in home.path.rglob("*") if p.is_file()}
    output = cli(
        "join", "--home", str(home.path), "--descriptor", str(network.descriptor),
        "--ledger-url", network.url, code=1,
    )  # fmt: skip
    assert "is not empty; refusing to overwrite it" in output
    assert {p: p.read_bytes() for p in home.path.rglob("*") if p.is_file()} == before


def test_join_names_the_route_the_descriptor_needs(network: Network, tmp_path: Path) -> None:
    output = join(
        network, tmp_path / "home", network.descriptor, "--etcd", "http://127.0.0.1:1", code=2
    )
    assert "The descriptor is of an external JSON-RPC network: join it with --ledger-url" in output
    output = join(network, tmp_path / "home", network.descriptor, "--learner", code=2)
    assert "(and no --etcd or --learner)" in output
    etcd = tmp_path / "etcd.json"
    etcd.write_text(json.dumps(ETCD_DESCRIPTOR_V1))
    output = join(network, tmp_path / "home", etcd, code=2)
    assert "The descriptor is of an etcd consortium: join it with --etcd" in output


# an etcd consortium's descriptor as version 1 wrote it (no ``route``)
ETCD_DESCRIPTOR_V1 = {
    "chain_id": 8888,
    "genesis_timestamp": 1_700_000_000,
    "genesis_hash": "0x" + "00" * 32,
    "dev": True,
    "contracts": {"NodeRegistry": "0x" + "11" * 20},
    "ca_certificate": "",
    "etcd_endpoints": ["http://127.0.0.1:2379"],
    "bootstrap_nodes": ["0x" + "22" * 32],
    "version": 1,
    "peers": [],
}


def test_a_version_1_descriptor_is_still_read_as_an_etcd_consortiums(tmp_path: Path) -> None:
    path = tmp_path / "network.json"
    path.write_text(json.dumps(ETCD_DESCRIPTOR_V1))
    descriptor = NetworkDescriptor.load(path)
    assert (descriptor.route, descriptor.etcd_endpoints) == ("etcd", ["http://127.0.0.1:2379"])
    descriptor.save(path)  # written again as the current version
    rewritten = json.loads(path.read_text())
    assert (rewritten["version"], rewritten["route"]) == (2, "etcd")
    assert isinstance(read_descriptor(path), NetworkDescriptor)


def test_an_etcd_node_refuses_an_external_networks_descriptor(network: Network) -> None:
    with pytest.raises(DescriptorInvalid) as refused:
        NetworkDescriptor.load(network.descriptor)
    assert "join it with --ledger-url" in refused.value.message


# ---- two institutions' nodes on the one network ------------------------------------------


def test_both_nodes_serve_the_api_over_the_network(
    network: Network, nodes: tuple[RunningNode, RunningNode]
) -> None:
    first, second = nodes
    for node in nodes:
        assert f"following the external JSON-RPC network at {network.url}" in node.output()
    assert first.client().me()["id"] == 1  # the founder's operator: member 1, its account
    report = cli_json("status", "--home", str(network.second.path))
    assert (report["chain_id"], report["node"]["rpc_url"]) == (ANVIL_CHAIN_ID, network.url)
    assert report["node"]["api_url"] == second.api_url
    # each has a read model of its own: an API key issued by one is unknown to the other
    assert (network.founder.path / "scf.db").exists()
    assert (network.second.path / "scf.db").exists()
    founders_key = (network.founder.path / "operator-api-key").read_text().strip()
    with pytest.raises(ApiError) as refused:
        ScfClient(second.api_url, founders_key).me()
    assert refused.value.status == 401
    # the second institution's operator is no member of the founder's: its home's governor
    # key is no member's account, so it gets no operator key at all
    assert not (network.second.path / "operator-api-key").exists()
    assert "Operator API key: none (this home's governor key is no member's account" in (
        second.output()
    )


def test_a_certificate_moves_from_a_member_at_one_institution_to_one_at_the_other(
    network: Network, nodes: tuple[RunningNode, RunningNode]
) -> None:
    first, second = nodes
    bank, _ = admit_at_founder(first, "Bank at the founder", "FINANCIER")
    core, core_id = admit_at_founder(first, "Core enterprise at the founder", "CORE_ENTERPRISE")
    supplier, supplier_id = admit_at_founder(first, "Supplier at the founder", "SUPPLIER")
    remote, _ = admit_at_second(network, second, "Supplier at the second institution", "SUPPLIER")
    remote_id = int(remote.me()["id"])
    # its signing key is on the second institution's node only
    account = remote.me()["accounts"][0]
    assert (network.second.path / "keys" / "accounts").exists()
    assert account.lower()[2:] in " ".join(
        p.read_text().lower() for p in (network.second.path / "keys" / "accounts").iterdir()
    )
    assert not any(
        account.lower()[2:] in p.read_text().lower()
        for p in (network.founder.path / "keys" / "accounts").iterdir()
    )

    today = datetime.now(UTC).date()
    line = bank.grant_credit_line(core_id, "500000.00", (today + timedelta(days=365)).isoformat())
    document = supplier.store_document(b"invoice 1 of the founder's supplier", "i.txt", [core_id])
    invoice = supplier.register_invoice(
        invoice_code="3700000001",
        invoice_number="00000001",
        buyer_id=core_id,
        amount="100000.00",
        issue_date=today.isoformat(),
        due_date=(today + timedelta(days=120)).isoformat(),
        document_hash=document["hash"],
    )
    core.confirm_invoice(invoice["key"])
    root = core.issue_certificate(
        holder_id=supplier_id,
        face_value="100000.00",
        maturity=(today + timedelta(days=90)).isoformat(),
        credit_line_id=line["id"],
        invoice_keys=[invoice["key"]],
    )
    moved = supplier.transfer(root["id"], remote_id, "40000.00")

    def held_by_remote() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = remote.certificates()["items"]
        return [c for c in items if c["holder_id"] == remote_id]

    held = wait_for(held_by_remote, "the certificate at the second institution's node")
    assert [(c["value"], c["root_id"]) for c in held] == [("40000.00", root["id"])]
    seen_at_founder = supplier.certificate(held[0]["id"])
    assert (seen_at_founder["holder_id"], seen_at_founder["value"]) == (remote_id, "40000.00")
    assert moved["id"] == held[0]["id"]  # the transfer answered with the new certificate

    # the member at the second institution writes through its own node: a transfer back
    remote.transfer(held[0]["id"], supplier_id, "15000.00")
    back = wait_for(
        lambda: [
            c
            for c in supplier.certificates()["items"]
            if c["holder_id"] == supplier_id and c["value"] == "15000.00"
        ],
        "the transfer back at the founder's node",
    )
    assert len(back) == 1
    # each node's read model agrees with the chain state it reads from the network
    for home in (network.founder, network.second):
        assert "Reconciled the read model with chain state at block" in cli(
            "verify", "--home", str(home.path)
        )


def test_a_company_not_admitted_cannot_write_through_the_second_node(
    nodes: tuple[RunningNode, RunningNode],
) -> None:
    _, second = nodes
    applied = ScfClient(second.api_url).apply("Not yet admitted", company(), ["SUPPLIER"])
    applicant = ScfClient(second.api_url, applied["api_key"])
    with pytest.raises(ApiError) as refused:
        applicant.store_document(b"an attempt", "a.txt", [1])
    assert refused.value.status == 403
    with pytest.raises(ApiError) as refused:
        applicant.transfer(1, 1, "1.00")
    assert refused.value.status == 403


def document_url(home: NodeHome) -> str:
    return f"https://{home.read_settings()['documents']['listen']}"


def test_a_document_reaches_the_party_at_the_other_institution_only(
    network: Network, nodes: tuple[RunningNode, RunningNode]
) -> None:
    """ADR 22 on an external network: the nodes find each other's document endpoints in
    their NodeRegistry entries and the members' homes at those endpoints."""
    first, second = nodes
    owner, _ = admit_at_founder(first, "Core enterprise sharing a document", "CORE_ENTERPRISE")
    party, party_key = admit_at_second(network, second, "Supplier, party to it", "SUPPLIER")
    _, outsider_key = admit_at_second(network, second, "Supplier, no party", "SUPPLIER")
    founder_outsider, _ = admit_at_founder(first, "Bank at the founder, no party", "FINANCIER")
    party_id = int(party.me()["id"])
    content = b"supply agreement: a core enterprise at the founder, a supplier at the second"
    digest = owner.store_document(content, "agreement.txt", [party_id])["hash"]

    def read(key: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {key}"}
        return httpx.get(f"{second.api_url}/v1/documents/{digest}", headers=auth, timeout=10)

    # neither node is on the NodeRegistry yet: the document stays at the founder's
    assert read(party_key).status_code == 404
    founder_key = node_key_of(network.founder, DEV_PASSPHRASE).public_key.hex()
    for public_key, home, member in (
        (founder_key, network.founder, 1),
        (network.joined["public_key"], network.second, party_id),
    ):
        added = cli_json(
            "node", "propose-add", "--public-key", public_key, "--owner", str(member),
            "--endpoint", document_url(home), "--home", str(network.founder.path),
        )  # fmt: skip
        assert added["state"] == "EXECUTED", added
    answer = wait_for(
        lambda: (found := read(party_key)).status_code == 200 and found,
        "the document at the second institution's node",
        timeout=90.0,  # the outbox retried while no home was found: its backoff, up to 30 s
    )
    assert answer.content == content
    assert answer.headers["X-Document-Hash"] == digest
    assert party.get(f"/v1/documents/{digest}/verify")["intact"] is True
    # no party: neither a member at the party's institution nor one at the owner's
    assert read(outsider_key).status_code == 404
    with pytest.raises(ApiError) as refused:
        founder_outsider.get(f"/v1/documents/{digest}/verify")
    assert refused.value.status == 404
    assert f"Documents from other institutions' nodes: {document_url(network.second)}" in (
        second.output()
    )


def test_a_governor_whose_key_is_at_the_second_institution_votes_through_its_node(
    network: Network, nodes: tuple[RunningNode, RunningNode]
) -> None:
    """Last in the module: from here the committee needs both governors' votes."""
    first, second = nodes
    governor, _ = admit_at_second(network, second, "Bank at the second institution", "FINANCIER")
    _, voteless = admit_at_second(network, second, "Supplier without a vote", "SUPPLIER")
    account = governor.me()["accounts"][0]
    founder = str(network.founder.path)
    added = cli_json("proposal", "propose-governor", account, "--weight", "1", "--home", founder)
    assert added["state"] == "EXECUTED", added

    # the founder's governor proposes; its weight alone no longer decides
    account = cli_json("member", "new-account", "--home", str(network.second.path))["account"]
    proposed = cli_json(
        "member", "propose-admit", "--name", "Admitted by two institutions",
        "--credit-code", company(), "--role", "SUPPLIER", "--account", account,
        "--home", founder,
    )  # fmt: skip
    assert proposed["state"] == "PENDING", proposed
    proposal_id = proposed["proposal_id"]
    with pytest.raises(ApiError) as refused:  # a member of the second node, no governor
        ScfClient(second.api_url, voteless).vote(proposal_id)
    assert refused.value.status == 403

    voted = governor.vote(proposal_id)  # signed on the second node, with the key it holds
    assert voted["state"] == "executed"
    seen = wait_for(
        lambda: first.client().proposal(proposal_id)["state"] == "executed",
        "the founder's node to see the executed proposal",
    )
    assert seen
    admitted = wait_for(
        lambda: first.client().members(q="Admitted by two institutions")["items"],
        "the admitted member at the founder's node",
    )
    assert [m["status"] for m in admitted] == ["active"]
