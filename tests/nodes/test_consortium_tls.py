"""A consortium as institutions on different machines run it (docs/operations.md): etcd
over TLS with certificates of the consortium CA from the founding, each node reaching it
with its node certificate, history between nodes over mutual TLS, and each institution's
API with a CA of its own. On loopback here, with the commands an operator types.

``create-ca`` → the etcd member's key and request, signed by ``node certify`` → etcd with
client and peer certificate authentication → ``init --consortium --etcd https://...`` →
a second institution's ``node request-certificate``, certified and installed → ``join``
over https → ``start`` of the founding node → a write committed in etcd, and history on
its peer endpoint for a node certificate only.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from eth_account import Account
from web3 import Web3

from chain.backends.embedded import DEV_FAUCET_KEY
from chain.consortium.block_log import BlockLog
from chain.consortium.etcd import EtcdClient, EtcdTls
from chain.consortium.keys import ChainKeys
from chain.consortium.peers import Peer, PeerClient, PeerRefusedUs, PeerUnavailable
from chain.consortium.tls import node_of, peer_context
from nodes.consortium.descriptor import NetworkDescriptor
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.runtime.ports import free_ports
from tests.chain.consortium.etcd_cluster import EtcdCluster, ServerTls, etcd_binary

RETAIN_BLOCKS = 3  # blocks etcd keeps once the founding node mints
WAIT = 120.0  # seconds: a node's start and a block on a busy 2-core machine
_ENV = {k: v for k, v in os.environ.items() if k not in ("SCF_PASSPHRASE", "SCF_DATABASE_URL")} | {
    "COLUMNS": "200"
}


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nodes", *args],
        capture_output=True,
        text=True,
        env=_ENV,
        timeout=600,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"scf-node {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def wait_for(condition: Any, what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)  # poll interval, bounded by the deadline
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def rpc(url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = httpx.post(url, json=body, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


@pytest.fixture
def etcd_over_tls(tmp_path: Path) -> Iterator[tuple[Path, EtcdCluster]]:
    """The founding home's consortium CA (``node create-ca``) and an etcd member whose
    key and request were made on its machine and signed by ``node certify``."""
    etcd_binary()
    founder = tmp_path / "founder"
    cli("node", "create-ca", "--home", str(founder), "--dev")
    member = tmp_path / "etcd-a"
    cli("node", "etcd-request", "--name", "etcd-a", "--dir", str(member))
    certified = cli(
        "node", "certify", str(member / "etcd-a.csr"), "--name", "etcd-a", "--host", "127.0.0.1",
        "--host", "localhost", "--out", str(member / "etcd-a.pem"), "--home", str(founder),
        "--dev",
    )  # fmt: skip
    assert "etcd member's certificate (it names no node)" in certified.stdout
    ca = founder / "consortium-ca" / "ca.pem"
    server = ServerTls(ca, member / "etcd-a.pem", member / "etcd-a-key.pem")
    # the harness checks health with the member's certificate (clientAuth too)
    health = EtcdTls(ca, member / "etcd-a.pem", member / "etcd-a-key.pem")
    cluster = EtcdCluster(1, tmp_path / "etcd", tls=server, client_tls=health)
    yield founder, cluster
    cluster.stop()


def _node_tls(home: Path) -> EtcdTls:
    files = home / "pki" / "consortium"
    return EtcdTls(files / "ca.pem", files / "node.pem", files / "node-key.pem", DEV_PASSPHRASE)


def test_founding_joining_and_writing_over_etcd_with_tls(
    etcd_over_tls: tuple[Path, EtcdCluster], tmp_path: Path
) -> None:
    founder, etcd = etcd_over_tls
    endpoints = ",".join(etcd.endpoints)
    assert endpoints.startswith("https://")
    rpc_port, api_port, peer_port, bank_rpc, bank_api = free_ports(5)
    rpc_url = f"http://127.0.0.1:{rpc_port}"
    cli(
        "init", "--home", str(founder), "--dev", "--consortium", "--etcd", endpoints,
        "--advertise-rpc-url", rpc_url, "--peer-listen", f"127.0.0.1:{peer_port}",
    )  # fmt: skip
    settings = json.loads((founder / "node.json").read_text())["consortium"]
    assert settings["etcd_tls"] is True
    assert settings["advertise_peer_url"] == f"https://127.0.0.1:{peer_port}"
    descriptor = json.loads((founder / "network.json").read_text())
    consortium_ca = (founder / "consortium-ca" / "ca.pem").read_text()
    assert descriptor["ca_certificate"] == consortium_ca
    assert descriptor["peers"] == [f"https://127.0.0.1:{peer_port}"]
    # the founding institution's API has a CA of its own for its members' clients
    assert (founder / "pki" / "ca.pem").read_text() != consortium_ca

    # etcd keeps a small window once the founding node mints: a later institution must
    # fetch what is older from the founder's peer endpoint, over mutual TLS
    founder_settings = json.loads((founder / "node.json").read_text())
    founder_settings["consortium"]["retain_blocks"] = RETAIN_BLOCKS
    (founder / "node.json").write_text(json.dumps(founder_settings))

    # the founding node starts with its node certificate, and a write is committed in etcd
    process = _start(founder, rpc_port, api_port, tmp_path / "founder.log")
    try:
        tx_hash = _faucet_transfer(rpc_url, descriptor["chain_id"])
        receipt = wait_for(lambda: rpc(rpc_url, "eth_getTransactionReceipt", tx_hash), "receipt")
        with EtcdClient(etcd.endpoints, tls=_node_tls(founder)) as client:
            log = BlockLog(client, ChainKeys(descriptor["chain_id"]))
            head = log.head()
            assert head is not None
            assert head.height >= int(receipt["blockNumber"], 16)
            wait_for(lambda: log.oldest() > 1, "etcd to keep only its window")
        _a_second_institution_joins(tmp_path, founder, endpoints, bank_rpc, consortium_ca)
        _history_only_for_node_certificates(
            f"https://127.0.0.1:{peer_port}", tmp_path / "bank", tmp_path / "etcd-a"
        )
        # the joined node starts with its own certificate and follows the log
        bank = _start(tmp_path / "bank", bank_rpc, bank_api, tmp_path / "bank.log")
        try:
            bank_url = f"http://127.0.0.1:{bank_rpc}"
            founder_head = int(rpc(rpc_url, "eth_blockNumber"), 16)
            wait_for(
                lambda: int(rpc(bank_url, "eth_blockNumber"), 16) >= founder_head,
                "the bank's node to follow the log",
            )
            state = rpc(bank_url, "scf_consortium", "brief")
            assert state["role"] == "verifier"  # follows; mints once a vote allows it
            assert state["halted"] is None
            _each_sees_the_other_through_etcd(founder, tmp_path / "bank", rpc_url, bank_url)
        finally:
            _stop(bank)
    finally:
        _stop(process)


def _each_sees_the_other_through_etcd(
    founder: Path, bank: Path, founder_url: str, bank_url: str
) -> None:
    """``status`` at each institution shows the other's node, its role and head, from its
    heartbeat in etcd over TLS: neither holds the other's JSON-RPC token."""

    def seen(home: Path, url: str) -> dict[str, Any] | None:
        shown = json.loads(cli("status", "--home", str(home), "--json").stdout)["consortium"]
        found = [n for n in shown["nodes"] + shown["other_nodes"] if n["rpc_url"] == url]
        return found[0] if found and isinstance(found[0]["head"], int) else None

    at_bank = wait_for(lambda: seen(bank, founder_url), "the bank's status to show the founder")
    assert (at_bank["role"], at_bank["allowed"]) == ("minter", True)
    at_founder = wait_for(lambda: seen(founder, bank_url), "the founder's status to show the bank")
    assert (at_founder["role"], at_founder["allowed"]) == ("verifier", False)  # no vote yet


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _a_second_institution_joins(
    tmp_path: Path, founder: Path, endpoints: str, bank_rpc: int, consortium_ca: str
) -> None:
    """Its certificate first, then ``join`` over https: it replays the blocks etcd no
    longer keeps from the founder's peer endpoint with that certificate, and the rest
    from etcd."""
    bank = tmp_path / "bank"
    refused = cli(
        "join", "--home", str(tmp_path / "hasty"), "--descriptor", str(founder / "network.json"),
        "--etcd", endpoints, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "needs this node's certificate" in refused.stdout
    assert not (tmp_path / "hasty" / "keys").exists()
    requested = json.loads(
        cli(
            "node", "request-certificate", "--home", str(bank),
            "--descriptor", str(founder / "network.json"), "--json",
        ).stdout
    )  # fmt: skip
    signed = tmp_path / "bank.pem"
    certified = cli(
        "node", "certify", requested["certificate_request"], "--name", "bank", "--out",
        str(signed), "--home", str(founder),
    )  # fmt: skip
    assert f"certificate of node {requested['node_id']}" in certified.stdout
    cli("node", "install-certificate", str(signed), "--home", str(bank), "--dev")
    joined = json.loads(
        cli(
            "join", "--home", str(bank), "--descriptor", str(founder / "network.json"),
            "--etcd", endpoints, "--advertise-rpc-url", f"http://127.0.0.1:{bank_rpc}",
            "--institution", "Bank B", "--json",
        ).stdout
    )  # fmt: skip
    assert joined["public_key"] == requested["public_key"]  # the key it asked a certificate for
    assert json.loads((bank / "node.json").read_text())["consortium"]["etcd_tls"] is True
    _the_joined_institution_has_its_own_ca(bank, consortium_ca)
    _the_node_renews_its_certificate(tmp_path, founder, bank, requested["node_id"])


def _the_node_renews_its_certificate(tmp_path: Path, founder: Path, bank: Path, node: str) -> None:
    """``node renew-request``: a new certificate for the same TLS key, naming the node;
    the node starts and reads history with it afterwards."""
    current = bank / "pki" / "consortium" / "node.pem"
    old = x509.load_pem_x509_certificate(current.read_bytes())
    cli("node", "renew-request", "--home", str(bank), "--dev")
    renewed = tmp_path / "bank-renewed.pem"
    cli(
        "node", "certify", str(bank / "pki" / "consortium" / "node.csr"), "--name", "bank",
        "--out", str(renewed), "--home", str(founder),
    )  # fmt: skip
    cli("node", "install-certificate", str(renewed), "--home", str(bank), "--dev")
    new = x509.load_pem_x509_certificate(current.read_bytes())
    assert new.serial_number != old.serial_number
    assert new.public_key() == old.public_key()
    der = new.public_bytes(serialization.Encoding.DER)
    assert node_of(der) == node_of(old.public_bytes(serialization.Encoding.DER))
    assert "0x" + (node_of(der) or b"").hex() == node


def _the_joined_institution_has_its_own_ca(bank: Path, consortium_ca: str) -> None:
    """Its API's CA is its own: made in its home, its key there, never the consortium's."""
    own = x509.load_pem_x509_certificate((bank / "pki" / "ca.pem").read_bytes())
    assert (bank / "pki" / "ca.pem").read_text() != consortium_ca
    assert "Bank B" in own.subject.rfc4514_string()
    key = serialization.load_pem_private_key(
        (bank / "pki" / "ca-key.pem").read_bytes(), DEV_PASSPHRASE.encode()
    )
    assert key.public_key() == own.public_key()
    assert not (bank / "consortium-ca").exists()  # the consortium CA's key stays with the founder
    node = x509.load_pem_x509_certificate((bank / "pki" / "consortium" / "node.pem").read_bytes())
    assert node.issuer == x509.load_pem_x509_certificate(consortium_ca.encode()).subject


def _start(home: Path, rpc_port: int, api_port: int, log_file: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "nodes", "start", "--home", str(home), "--dev"]
    command += ["--rpc-port", str(rpc_port), "--api-port", str(api_port)]
    command += ["--no-read-replica", "--cpus", "off"]
    with log_file.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=_ENV)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the node exited:\n{log_file.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy, "the founding node to answer /healthz")
    return process


def _faucet_transfer(rpc_url: str, chain_id: int) -> str:
    faucet = Account.from_key(DEV_FAUCET_KEY)
    nonce = int(rpc(rpc_url, "eth_getTransactionCount", faucet.address, "pending"), 16)
    transfer = faucet.sign_transaction(
        {
            "to": Web3.to_checksum_address("0x" + "cd" * 20),
            "value": 1,
            "gas": 21_000,
            "nonce": nonce,
            "chainId": chain_id,
            "maxFeePerGas": int(rpc(rpc_url, "eth_gasPrice"), 16),
            "maxPriorityFeePerGas": 0,
        }
    )
    return str(rpc(rpc_url, "eth_sendRawTransaction", Web3.to_hex(transfer.raw_transaction)))


def _history_only_for_node_certificates(peer_url: str, bank: Path, etcd_member: Path) -> None:
    """The founding node's peer endpoint serves the bank's node certificate (it names the
    bank's node, which has no vote yet), and refuses a client without one, and the etcd
    member's certificate the same CA signed (``node etcd-request``, ``node certify``)."""
    files = bank / "pki" / "consortium"
    context = peer_context(
        files / "ca.pem", files / "node.pem", files / "node-key.pem", DEV_PASSPHRASE, server=False
    )
    client = PeerClient(Peer(peer_url, context=context))
    try:
        assert len(client.headers(1, 2)) == 2
    finally:
        client.close()
    bare = PeerClient(
        Peer(peer_url, context=ssl.create_default_context(cafile=str(files / "ca.pem")))
    )
    try:
        with pytest.raises(PeerUnavailable):
            bare.headers(1, 1)
    finally:
        bare.close()
    member = peer_context(
        files / "ca.pem",
        etcd_member / "etcd-a.pem",
        etcd_member / "etcd-a-key.pem",
        None,
        server=False,
    )
    as_etcd = PeerClient(Peer(peer_url, context=member))
    try:
        with pytest.raises(PeerRefusedUs, match="peer_not_a_node"):
            as_etcd.headers(1, 1)
    finally:
        as_etcd.close()


def test_plain_http_etcd_beyond_loopback_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    refused = cli(
        "init", "--home", str(home), "--dev", "--consortium", "--etcd", "http://10.0.0.5:2379",
        check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "plain http beyond loopback" in refused.stdout
    assert "only on 127.0.0.1, ::1 or localhost" in refused.stdout
    assert not home.exists() or not any(home.iterdir())
    mixed = cli(
        "init", "--home", str(home), "--dev", "--consortium",
        "--etcd", "https://10.0.0.5:2379,http://127.0.0.1:2379", check=False,
    )  # fmt: skip
    assert mixed.returncode == 1
    assert "not a mix" in mixed.stdout
    descriptor = tmp_path / "network.json"
    NetworkDescriptor(
        chain_id=7,
        genesis_timestamp=0,
        genesis_hash="0x" + "00" * 32,
        dev=True,
        contracts={"NodeRegistry": "0x" + "11" * 20},
        ca_certificate="",
        etcd_endpoints=["https://etcd.example.org:2379"],
        bootstrap_nodes=[],
    ).save(descriptor)
    joining = cli(
        "join", "--home", str(home), "--descriptor", str(descriptor),
        "--etcd", "http://etcd.example.org:2379", check=False,
    )  # fmt: skip
    assert joining.returncode == 1
    assert "plain http beyond loopback" in joining.stdout
    assert not NodeHome(home).existing_parts()
