"""The block log on a three-member etcd cluster (crash faults), and on etcd with TLS and
client certificates from the consortium CA."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from chain.consortium.block_log import BlockLog, Head
from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient, EtcdTls, EtcdUnavailable
from chain.consortium.keys import ChainKeys
from nodes.pki.ca import ConsortiumCA
from tests.chain.consortium import etcd_cluster
from tests.chain.consortium.etcd_cluster import EtcdCluster, ServerTls

GENESIS = hashlib.sha256(b"genesis").digest()
WAIT = 60.0  # generous bound for anything that waits on etcd elections on a busy machine
CALL_TIMEOUT = 2.0  # the client's bound on one call


def block(height: int) -> tuple[bytes, bytes]:
    data = b"block %d" % height
    return data, hashlib.sha256(data).digest()


def append_next(log: BlockLog, head: Head, lease: int, *, retry: bool) -> Head:
    """Append the block after ``head``; with ``retry`` resend the same block while etcd
    is unavailable (``append`` is idempotent), up to ``WAIT``."""
    data, digest = block(head.height + 1)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return log.append(head.height + 1, head.hash, data, block_hash=digest, lease=lease)
        except EtcdUnavailable:
            if not retry or time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # etcd is electing a leader; bounded by the deadline


def test_appends_survive_one_member_fail_fast_without_a_majority_and_recover(
    etcd3: EtcdCluster,
) -> None:
    keys = ChainKeys(11)
    with EtcdClient(etcd3.endpoints, timeout=CALL_TIMEOUT) as client:
        log = BlockLog(client, keys)
        head = log.initialize(GENESIS)
        election = Election(client, keys, "http://minter", ttl=10)
        lease = election.campaign(timeout=WAIT).lease
        head = append_next(log, head, lease, retry=False)

        first, second, survivor = etcd3.members
        etcd3.kill(first)  # two of three: still a majority
        for _ in range(3):
            head = append_next(log, head, lease, retry=True)
        assert head.height == 4

        etcd3.kill(second)  # one of three: no block can be final
        started = time.monotonic()
        with pytest.raises(EtcdUnavailable):
            append_next(log, head, lease, retry=False)
        assert time.monotonic() - started < 10 * CALL_TIMEOUT  # an answer, not a hang
        with EtcdClient([survivor.client_url], timeout=CALL_TIMEOUT) as stale:
            log_on_survivor = BlockLog(stale, keys)
            with pytest.raises(EtcdUnavailable):
                log_on_survivor.head()  # a linearizable read needs the majority too
            # what the survivor has applied can still be read locally
            kv = stale.range(keys.head, serializable=True).kvs
            assert kv[0].value.startswith(b"4:")

        etcd3.restart(first)
        etcd3.restart(second)
        etcd3.wait_healthy([first, second], timeout=WAIT)
        # the block whose append timed out may have committed after all: resending it
        # answers committed either way, and the chain goes on from it
        head = append_next(log, head, lease, retry=True)
        head = append_next(log, head, lease, retry=True)
        assert head.height == 6
        assert [log.read(h).data for h in range(1, 7)] == [block(h)[0] for h in range(1, 7)]

        def every_member_has_the_head() -> bool:
            for member in etcd3.members:
                with EtcdClient([member.client_url], timeout=CALL_TIMEOUT) as one:
                    kvs = one.range(keys.head, serializable=True).kvs
                    if not kvs or kvs[0].value != head.encode():
                        return False
            return True

        deadline = time.monotonic() + WAIT
        while not every_member_has_the_head():
            assert time.monotonic() < deadline, "a restarted member did not catch up"
            time.sleep(0.1)  # poll interval, bounded by the deadline
        election.resign()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_etcd_with_client_certificates_from_the_consortium_ca(tmp_path: Path) -> None:
    ca = ConsortiumCA.create(tmp_path / "pki", "test passphrase", "Test Consortium")
    server, server_key = ca.issue_etcd_certificate("etcd-a", ("localhost", "127.0.0.1"))
    node, node_key = ca.issue_etcd_certificate("node-a", ("localhost", "127.0.0.1"))
    # the node keeps its key encrypted; the client decrypts it with the passphrase
    encrypted = serialization.load_pem_private_key(node_key, None).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"node passphrase"),
    )
    node_tls = EtcdTls(
        ca.ca_file,
        _write(tmp_path / "node.pem", node.pem),
        _write(tmp_path / "node-key.pem", encrypted),
        key_password="node passphrase",
    )
    server_tls = ServerTls(
        ca.ca_file,
        _write(tmp_path / "etcd.pem", server.pem),
        _write(tmp_path / "etcd-key.pem", server_key),
    )
    cluster = EtcdCluster(1, tmp_path / "etcd", tls=server_tls, client_tls=node_tls)
    keys = ChainKeys(13)
    try:
        assert all(endpoint.startswith("https://") for endpoint in cluster.endpoints)
        with EtcdClient(cluster.endpoints, tls=node_tls) as client:
            log = BlockLog(client, keys)
            head = log.initialize(GENESIS)
            election = Election(client, keys, "https://node-a:8545", ttl=5)
            leadership = election.campaign(timeout=WAIT)
            head = append_next(log, head, leadership.lease, retry=False)
            assert log.read(1).data == block(1)[0]
            election.resign()

        # no client certificate: refused
        bare_tls = EtcdTls(ca.ca_file)
        with (
            EtcdClient(cluster.endpoints, tls=bare_tls, timeout=CALL_TIMEOUT) as bare,
            pytest.raises(EtcdUnavailable),
        ):
            bare.get(keys.head)
        # a certificate from another consortium's CA: refused
        other = ConsortiumCA.create(tmp_path / "other", "test passphrase", "Other Consortium")
        stranger, stranger_key = other.issue_etcd_certificate("stranger")
        stranger_tls = EtcdTls(
            ca.ca_file,
            _write(tmp_path / "stranger.pem", stranger.pem),
            _write(tmp_path / "stranger-key.pem", stranger_key),
        )
        with (
            EtcdClient(cluster.endpoints, tls=stranger_tls, timeout=CALL_TIMEOUT) as foreign,
            pytest.raises(EtcdUnavailable),
        ):
            foreign.get(keys.head)
    finally:
        cluster.stop()


def test_an_etcd_certificate_serves_and_authenticates(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca = ConsortiumCA.create(tmp_path / "pki", "test passphrase", "Test Consortium")
    issued, key_pem = ca.issue_etcd_certificate("etcd-a", ("etcd-a.example", "10.0.0.5"))
    usages = issued.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    names = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.DNSName) == ["etcd-a.example"]
    assert [str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    key = serialization.load_pem_private_key(key_pem, None)  # unencrypted: etcd reads it
    assert key.public_key() == issued.certificate.public_key()
    ca.verify_client(issued.certificate)  # chains to the CA, clientAuth


def test_without_etcd_the_tests_skip_but_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    monkeypatch.setattr("os.path.exists", lambda _path: False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="etcd-server"):
        etcd_cluster.etcd_binary()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        etcd_cluster.etcd_binary()
