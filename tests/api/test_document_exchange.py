"""Private documents between institutions' nodes (issue 24): a party's own node receives
the document over mutual TLS with the consortium PKI, checks its hash, keeps it sealed
under its own data key and serves it through ``/v1/documents``; nobody else gets it."""

from __future__ import annotations

import base64
import hashlib
import http.client
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, select

from api.readmodel.models import DocumentDeliveryRow, DocumentRow
from api.services.document_exchange import (
    DELIVERED,
    LOCAL,
    PENDING,
    REFUSED,
    Envelope,
    HomeClaim,
    HomePublisher,
    NodeIdentity,
    PeerRefused,
    open_record,
    sign_home_claim,
)
from api.services.document_peer import PEER_PATH, fetch_again, peer_context
from chain.consortium.seal import NodeKey
from nodes.pki.ca import ConsortiumCA
from tests.api.conftest import ApiTemplate
from tests.api.document_institutions import (
    PASSPHRASE,
    Consortium3,
    Institution,
    build_consortium,
    node_certificate,
    transport_of,
)
from tests.chain.consortium.etcd_cluster import EtcdCluster


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(1, tmp_path_factory.mktemp("etcd"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def cons(
    api_template: ApiTemplate, etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Consortium3]:
    yield from build_consortium(api_template, etcd.endpoints, tmp_path_factory.mktemp("cons"))


def _sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def _upload(cons: Consortium3, node: str, who: str, content: bytes, parties: list[str]) -> Any:
    body = {
        "content": base64.b64encode(content).decode(),
        "filename": "agreement.pdf",
        "content_type": "application/pdf",
        "party_ids": [getattr(cons.world, p).id for p in parties],
    }
    answer = cons[node].client.post("/v1/documents", json=body, headers=cons.auth(who))
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _read(cons: Consortium3, node: str, who: str, digest: str) -> Any:
    return cons[node].client.get(f"/v1/documents/{digest}", headers=cons.auth(who))


def _deliveries(node: Institution, digest: str) -> list[DocumentDeliveryRow]:
    with node.sessions() as session:
        return list(
            session.scalars(
                select(DocumentDeliveryRow)
                .join(DocumentRow, DocumentRow.id == DocumentDeliveryRow.document_id)
                .where(DocumentRow.hash == digest)
            )
        )


def _records(node: Institution, digest: str) -> list[DocumentRow]:
    with node.sessions() as session:
        return list(session.scalars(select(DocumentRow).where(DocumentRow.hash == digest)))


def _envelope_of(cons: Consortium3, sender: NodeIdentity, content: bytes, **kw: Any) -> Envelope:
    """An envelope ``sender`` signs for a document of core's, for tier1 (at B)."""
    row = DocumentRow(
        hash=kw.pop("hash", _sha(content)),
        owner_id=kw.pop("owner_id", cons.world.core.id),
        filename="x.pdf",
        content_type="application/pdf",
    )
    recipients = kw.pop("recipients", [cons.world.tier1.id])
    return sender.envelope(row, content, recipients)


# ---- delivery -------------------------------------------------------------------------------


def test_a_document_reaches_the_party_at_another_institution_and_nobody_else(
    cons: Consortium3,
) -> None:
    content = b"%PDF-1.7 supply agreement, Core Motors and Tier-1 Parts, A to B"
    digest = _upload(cons, "A", "core", content, ["tier1"])["hash"]
    assert digest == _sha(content)
    # the outbox holds one delivery, for tier1; where to is found when it is sent
    [pending] = _deliveries(cons["A"], digest)
    assert (pending.state, pending.member_id, pending.node_id) == (PENDING, cons.world.tier1.id, "")
    assert _read(cons, "B", "tier1", digest).status_code == 404  # not there yet

    assert cons["A"].deliverer.run_once() == 1
    [sent] = _deliveries(cons["A"], digest)
    assert (sent.state, sent.node_id) == (DELIVERED, "0x" + cons["B"].identity.node_id.hex())
    answer = _read(cons, "B", "tier1", digest)
    assert answer.status_code == 200
    assert answer.content == content
    assert answer.headers["X-Document-Hash"] == digest
    # at rest on B: sealed under B's own data key, not A's
    [record] = _records(cons["B"], digest)
    assert content not in record.ciphertext
    assert record.key_id == cons["B"].vault.key_id != cons["A"].vault.key_id
    assert open_record(cons["B"].vault, record) == content
    verified = cons["B"].client.get(f"/v1/documents/{digest}/verify", headers=cons.auth("tier1"))
    assert verified.json()["intact"] is True

    # C's node never got it; tier3 (no party) gets it from no node, nor does B's other member
    assert _records(cons["C"], digest) == []
    for node in ("A", "B", "C"):
        assert _read(cons, node, "tier3", digest).status_code == 404
    assert _read(cons, "B", "bank", digest).status_code == 404

    # a second pass sends nothing again
    assert cons["A"].deliverer.run_once() == 0


def test_a_new_party_added_later_is_delivered_and_parties_on_the_uploaders_node_stay(
    cons: Consortium3,
) -> None:
    content = b"settlement record 2026-12, parties at A and at C"
    digest = _upload(cons, "A", "core", content, [])["hash"]
    assert _deliveries(cons["A"], digest) == []
    _upload(cons, "A", "core", content, ["tier3"])  # the same content again, a new party
    assert cons["A"].deliverer.run_once() == 1
    [sent] = _deliveries(cons["A"], digest)
    assert sent.node_id == "0x" + cons["C"].identity.node_id.hex()
    assert _read(cons, "C", "tier3", digest).content == content
    assert _records(cons["B"], digest) == []


def test_a_party_served_by_the_uploaders_own_node_needs_no_delivery(cons: Consortium3) -> None:
    content = b"tier1 and bank, both at B"
    digest = _upload(cons, "B", "tier1", content, ["bank"])["hash"]
    assert cons["B"].deliverer.run_once() == 0
    assert [d.state for d in _deliveries(cons["B"], digest)] == [LOCAL]
    assert _read(cons, "B", "bank", digest).content == content
    assert _records(cons["A"], digest) == _records(cons["C"], digest) == []


def test_delivery_resumes_after_the_receiving_node_was_down(cons: Consortium3) -> None:
    content = b"invoice 00009002 scan, sent while B was down"
    cons["B"].down()
    try:
        digest = _upload(cons, "A", "core", content, ["tier1"])["hash"]
        assert cons["A"].deliverer.run_once() == 0
        [waiting] = _deliveries(cons["A"], digest)
        assert (waiting.state, waiting.attempts) == (PENDING, 1)
        assert "unreachable" in waiting.last_error
        assert waiting.next_attempt_at > time.time()  # backing off
    finally:
        cons["B"].serve()
    # a node restarted in between: a new deliverer over the same outbox finds it
    a = cons["A"]
    restarted = type(a.deliverer)(
        a.sessions, a.vault, a.identity, cons.homes, transport_of(a.files)
    )
    assert restarted.run_once(now=int(time.time()) + 3600) == 1
    assert [d.state for d in _deliveries(cons["A"], digest)] == [DELIVERED]
    assert _read(cons, "B", "tier1", digest).content == content


# ---- refusals -------------------------------------------------------------------------------


def test_a_tampered_body_is_refused_by_its_hash(cons: Consortium3) -> None:
    genuine = b"financing agreement 17, rate 4.1 %"
    envelope = _envelope_of(cons, cons["A"].identity, genuine)
    tampered = replace(envelope, content=b"financing agreement 17, rate 9.9 %")
    status, reason = transport_of(cons["A"].files).send(
        cons["B"].url, cons["B"].fingerprint, tampered
    )
    assert status == 422
    assert "document_hash_mismatch" in reason
    assert _records(cons["B"], _sha(genuine)) == []
    # the envelope as signed goes through: what was refused was the body alone
    status, _ = transport_of(cons["A"].files).send(cons["B"].url, cons["B"].fingerprint, envelope)
    assert status == 201


def test_an_allowed_node_may_not_send_for_owners_or_recipients_it_does_not_serve(
    cons: Consortium3,
) -> None:
    content = b"a document C would like B to believe core sent"
    c_transport = transport_of(cons["C"].files)
    b = cons["B"]
    # C (allowed) signs a document of core's (served by A)
    status, reason = c_transport.send(
        b.url, b.fingerprint, _envelope_of(cons, cons["C"].identity, content)
    )
    assert (status, "does not serve the document's owner" in reason) == (403, True)
    # C sends tier3's document for tier3 to B, which does not serve tier3
    own = _envelope_of(
        cons,
        cons["C"].identity,
        content,
        owner_id=cons.world.tier3.id,
        recipients=[cons.world.tier3.id],
    )
    status, reason = c_transport.send(b.url, b.fingerprint, own)
    assert (status, "serves none or not all" in reason) == (403, True)
    assert _records(b, _sha(content)) == []


def test_a_certificate_from_another_ca_fails_the_handshake(
    cons: Consortium3, tmp_path: Path
) -> None:
    other = ConsortiumCA.create(tmp_path / "other-ca", PASSPHRASE, "Another Consortium")
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(other.ca_certificate_pem())
    # a node certificate with A's very name, from another CA
    stranger = node_certificate(other, cons.ca_file, tmp_path / "stranger", "institution-A")
    transport = transport_of(stranger)
    content = b"a stranger's document"
    with pytest.raises(ssl.SSLError):
        transport.send(
            cons["B"].url,
            cons["B"].fingerprint,
            _envelope_of(cons, cons["A"].identity, content),
        )
    assert _records(cons["B"], _sha(content)) == []


def test_a_node_off_the_allow_list_or_signing_with_another_key_is_refused(
    cons: Consortium3, tmp_path: Path
) -> None:
    content = b"signed by a key nobody allowed"
    outsider = NodeIdentity(cons.world.ledger.chain_id, NodeKey(b"\x07" * 32))
    ca = ConsortiumCA.open(cons.directory / "ca", PASSPHRASE)
    # a consortium certificate for the outsider's key: TLS passes, the allow-list does not
    files = node_certificate(ca, cons.ca_file, tmp_path / "outsider", "outsider", outsider.key)
    status, reason = transport_of(files).send(
        cons["B"].url, cons["B"].fingerprint, _envelope_of(cons, outsider, content)
    )
    assert (status, "not on the NodeRegistry allow-list" in reason) == (403, True)
    # A's envelope sent with C's certificate: the certificate is not the signer's
    status, reason = transport_of(cons["C"].files).send(
        cons["B"].url, cons["B"].fingerprint, _envelope_of(cons, cons["A"].identity, content)
    )
    assert (status, "not the signing node's" in reason) == (403, True)
    assert _records(cons["B"], _sha(content)) == []


def test_a_url_leading_to_another_node_gets_nothing(cons: Consortium3) -> None:
    content = b"meant for B, the URL leads to C"
    with pytest.raises(ssl.SSLError):
        transport_of(cons["A"].files).send(
            cons["C"].url,
            cons["B"].fingerprint,
            _envelope_of(cons, cons["A"].identity, content),
        )
    assert _records(cons["C"], _sha(content)) == []


def test_a_home_claim_not_signed_by_the_member_is_ignored(cons: Consortium3) -> None:
    world = cons.world
    forged = sign_home_claim(
        world.tier3.signer.key,  # tier3's key, claiming tier1 lives at C
        world.ledger.chain_id,
        world.tier1.id,
        cons["C"].identity.node_id,
        cons["C"].url,
        cons["C"].fingerprint,
    )
    cons.board.publish(forged)
    with cons["A"].sessions() as session:
        homes = cons.homes.of(session, world.tier1.id)
    assert [h.node_id for h in homes] == ["0x" + cons["B"].identity.node_id.hex()]
    content = b"tier1 only, whatever the board says"
    digest = _upload(cons, "A", "core", content, ["tier1"])["hash"]
    assert cons["A"].deliverer.run_once() == 1
    assert {d.node_id for d in _deliveries(cons["A"], digest)} == {
        "0x" + cons["B"].identity.node_id.hex()
    }
    assert _read(cons, "B", "tier1", digest).content == content
    assert _records(cons["C"], digest) == []


def test_a_refusal_for_good_stops_the_retries(cons: Consortium3) -> None:
    """The party's home moved away from B while B was down: back up, B refuses, and the
    delivery is kept as refused with B's reason, not retried forever."""
    world = cons.world
    b_node = cons["B"].identity.node_id
    content = b"sent to B for bank, whose home then moved"
    [claim] = [c for c in cons.board.claims(world.bank.id) if c.node_id == "0x" + b_node.hex()]
    cons["B"].down()
    try:
        digest = _upload(cons, "A", "core", content, ["bank"])["hash"]
        cons["A"].deliverer.run_once()
        [waiting] = _deliveries(cons["A"], digest)
        assert (waiting.state, waiting.node_id) == (PENDING, "0x" + b_node.hex())
        cons.board.withdraw(world.bank.id, b_node)
        cons["B"].serve()
        cons["A"].deliverer.run_once(now=int(time.time()) + 3600)
        [refused] = _deliveries(cons["A"], digest)
        assert refused.state == REFUSED
        assert "serves none or not all" in refused.last_error
        assert cons["A"].deliverer.run_once(now=int(time.time()) + 7200) == 0
        assert _deliveries(cons["A"], digest)[0].attempts == 2
    finally:
        cons.board.publish(claim)
        if cons["B"].server is None:
            cons["B"].serve()
    assert _read(cons, "B", "bank", digest).status_code == 404


def test_a_party_without_a_home_yet_is_delivered_once_its_node_publishes_it(
    cons: Consortium3,
) -> None:
    world, c = cons.world, cons["C"]
    digest = _upload(cons, "A", "core", b"for tier2, wherever it lives", ["tier2"])["hash"]
    cons["A"].deliverer.run_once()
    [waiting] = _deliveries(cons["A"], digest)
    assert (waiting.state, waiting.node_id) == (PENDING, "")
    assert waiting.last_error == "no home node published for the member yet"

    held = {world.tier2.address.lower(): world.tier2.signer.key}  # C's custody: tier2 only
    publisher = HomePublisher(
        cons.board, c.identity, c.url, c.fingerprint, lambda a: held.get(a.lower())
    )
    try:
        with c.sessions() as session:
            assert publisher.publish_missing(session) == 1
            assert publisher.publish_missing(session) == 0  # there already
            [home] = cons.homes.of(session, world.tier2.id)
        assert (home.node_id, home.url) == ("0x" + c.identity.node_id.hex(), c.url)
        assert cons["A"].deliverer.run_once(now=int(time.time()) + 3600) == 1
        assert _read(cons, "C", "tier2", digest).content == b"for tier2, wherever it lives"
    finally:
        cons.board.withdraw(world.tier2.id, c.identity.node_id)


# ---- asking again -------------------------------------------------------------------------


def _owner_home(cons: Consortium3, node: str) -> HomeClaim:
    with cons[node].sessions() as session:
        claim = cons.homes.claim(session, cons.world.core.id, cons["A"].identity.node_id)
    assert claim is not None
    return claim


def test_a_node_that_lost_a_document_asks_the_owners_node_again(cons: Consortium3) -> None:
    content = b"delivered, then lost by B (restored from an old backup)"
    digest = _upload(cons, "A", "core", content, ["tier1"])["hash"]
    assert cons["A"].deliverer.run_once() >= 1
    with cons["B"].sessions.begin() as session:
        session.execute(delete(DocumentRow).where(DocumentRow.hash == digest))
    assert _read(cons, "B", "tier1", digest).status_code == 404
    b = cons["B"]
    accepted = fetch_again(
        transport_of(b.files), b.receiver, b.identity, _owner_home(cons, "B"), digest,
        cons.world.tier1.id,
    )  # fmt: skip
    assert accepted.created
    assert _read(cons, "B", "tier1", digest).content == content
    [record] = _records(b, digest)
    assert record.key_id == b.vault.key_id


def test_an_allowed_node_asking_for_a_document_its_members_are_not_party_to_is_refused(
    cons: Consortium3,
) -> None:
    content = b"core and tier1 only; C asks anyway"
    digest = _upload(cons, "A", "core", content, ["tier1"])["hash"]
    c = cons["C"]
    source = _owner_home(cons, "C")

    def ask(document: str, member: int) -> None:
        fetch_again(transport_of(c.files), c.receiver, c.identity, source, document, member)

    # for tier3, whom C serves: tier3 is no party, the same 404 as for no document at all
    with pytest.raises(PeerRefused) as no_party:
        fetch_again(
            transport_of(c.files), c.receiver, c.identity, source, digest, cons.world.tier3.id
        )
    assert no_party.value.http_status == 404
    with pytest.raises(PeerRefused) as nothing:
        fetch_again(
            transport_of(c.files),
            c.receiver,
            c.identity,
            source,
            _sha(b"none"),
            cons.world.tier3.id,
        )
    assert (nothing.value.http_status, str(nothing.value)) == (
        no_party.value.http_status,
        str(no_party.value).replace(digest, _sha(b"none")),
    )
    # for tier1, whom C does not serve
    with pytest.raises(PeerRefused) as not_served:
        fetch_again(
            transport_of(c.files), c.receiver, c.identity, source, digest, cons.world.tier1.id
        )
    assert not_served.value.http_status == 403
    assert "does not serve that member" in str(not_served.value)
    assert _records(c, digest) == []


def _raw_post(cons: Consortium3, headers: dict[str, str], body: bytes) -> int:
    """A POST to B's document endpoint from A's certificate, as no polite client sends it."""
    files = cons["A"].files
    context = peer_context(files.ca, files.certificate, files.key, PASSPHRASE, server=False)
    target = urlsplit(cons["B"].url)
    connection = http.client.HTTPSConnection(
        target.hostname or "", target.port or 443, context=context, timeout=30
    )
    try:
        connection.putrequest("POST", PEER_PATH, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_lying_length_or_a_deep_body_is_refused_before_it_is_read_or_parsed(
    cons: Consortium3,
) -> None:
    # a negative length once read until the peer closed; a deep body once could end the
    # process (the C stack), as it did the API before its bodies were checked
    assert _raw_post(cons, {"Content-Length": "-1"}, b"") == 400
    deep = b"[" * 2_000 + b"]" * 2_000  # within the size bound: refused for its depth
    assert _raw_post(cons, {"Content-Length": str(len(deep))}, deep) == 400
    # and the endpoint still takes a genuine envelope
    content = b"sent after the hostile bodies"
    envelope = _envelope_of(cons, cons["A"].identity, content)
    status, _ = transport_of(cons["A"].files).send(cons["B"].url, cons["B"].fingerprint, envelope)
    assert status == 201
