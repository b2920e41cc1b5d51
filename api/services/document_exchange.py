"""Documents shared with parties at other institutions reach those parties' nodes.

In a consortium each institution's node serves its own members (issue 24): a document a
member uploads at institution A, naming a party served by B, must reach B's node, and
never C's. Three parts (ADR "documents between institutions' nodes"):

- **Homes.** A member's home node is stated by a *home claim*: member id, node id, the
  node's document URL, the SHA-256 of its TLS certificate and a time, signed by one of
  the member's own accounts. Only the
  holder of the member's key can make it (for a custodial member, its home node). Claims
  sit on a board every node reads (etcd's replicated key space, ``EtcdHomeBoard``), but
  the board is not trusted: a reader keeps a claim only if its signer is an account the
  chain binds to the member (the read model's ``member_accounts``, indexed from
  MemberRegistry) and the node is on the NodeRegistry allow-list. A board operator can
  hide a claim, never forge one.
- **Outbox.** ``DocumentExchange.enqueue`` writes one ``document_deliveries`` row per
  new party in the same transaction as the record or its new party; ``Deliverer`` finds
  the party's home node and sends it until the node takes it, or refuses it for good.
- **Envelope.** What travels (over HTTPS, both sides with certificates of the consortium
  CA) is the plaintext with its hash, owner, filename, type and the recipients served by
  the receiving node, signed with the sending node's key (secp256k1, the NodeRegistry
  identity). The receiver (``Receiver.accept``) checks the signature, the allow-list,
  that the sender serves the owner (and holds the TLS certificate that claim names) and
  itself each recipient, and the SHA-256 of the content against the hash, and then
  stores it sealed under its own data key, as any upload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from coincurve import PrivateKey
from cryptography.exceptions import InvalidTag
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.models import (
    DocumentDeliveryRow,
    DocumentPartyRow,
    DocumentRow,
    MemberAccountRow,
)
from api.services.documents import DocumentVault, document_hash, party_ids
from chain.consortium.etcd import EtcdClient, prefix_end
from chain.consortium.seal import NodeKey, node_id, recover_public_key
from chain.errors import ScfError

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 120  # an envelope signed longer ago (or ahead) than this is refused
MAX_BACKOFF_SECONDS = 30
BATCH = 50
PUBLISH_EVERY = 5  # deliverer passes between looks for members without a published home

PENDING, DELIVERED, REFUSED = "pending", "delivered", "refused"
LOCAL = "local"  # the party's only home is this node: nothing to send


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _address(public_key: bytes) -> str:
    return "0x" + bytes(keccak(public_key))[-20:].hex()


def certificate_fingerprint(der: bytes) -> str:
    """SHA-256 of a certificate's DER, hex: how a home claim names the node's TLS
    certificate (whatever name the consortium CA gave it)."""
    return hashlib.sha256(der).hexdigest()


# ---- homes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeClaim:
    """ "Member ``member_id`` is served by node ``node_id`` at ``url``, which presents the
    TLS certificate ``certificate``", signed by one of the member's accounts."""

    chain_id: int
    member_id: int
    node_id: str  # 0x-hex NodeRegistry id
    url: str  # the node's document endpoint, e.g. https://b.example:8443
    certificate: str  # SHA-256 of its consortium node certificate (DER), hex
    issued_at: int
    signature: str  # 0x-hex, 65 bytes (r, s, recovery id)

    def digest(self) -> bytes:
        return bytes(
            keccak(
                b"scf-document-home"
                + _u64(self.chain_id)
                + _u64(self.member_id)
                + bytes.fromhex(self.node_id.removeprefix("0x"))
                + _u64(self.issued_at)
                + bytes.fromhex(self.certificate)
                + self.url.encode()
            )
        )

    def signer(self) -> str | None:
        """The address that signed the claim (lower-case 0x-hex); None if malformed."""
        try:
            public_key = recover_public_key(
                bytes.fromhex(self.signature.removeprefix("0x")), self.digest()
            )
        except ValueError:
            return None
        return None if public_key is None else _address(public_key)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> HomeClaim | None:
        try:
            claim = cls(**json.loads(raw))
            bytes.fromhex(claim.node_id.removeprefix("0x"))
            bytes.fromhex(claim.certificate)
        except (ValueError, TypeError):
            return None
        return claim


def sign_home_claim(
    account_key: bytes, chain_id: int, member_id: int, node: bytes, url: str, certificate: str
) -> HomeClaim:
    """A claim that ``node`` serves the member whose account ``account_key`` is."""
    unsigned = HomeClaim(
        chain_id, member_id, "0x" + node.hex(), url, certificate, int(time.time()), ""
    )
    signature = PrivateKey(account_key).sign_recoverable(unsigned.digest(), hasher=None)
    return HomeClaim(**{**asdict(unsigned), "signature": "0x" + signature.hex()})


class HomeBoard(Protocol):
    """Where home claims are published for every node to read; not trusted (``Homes``)."""

    def publish(self, claim: HomeClaim) -> None: ...

    def claims(self, member_id: int) -> list[HomeClaim]: ...

    def withdraw(self, member_id: int, node: bytes) -> None: ...


class EtcdHomeBoard:
    """Claims in the consortium's etcd, which every institution's member replicates:
    ``scf/<chain id>/document-homes/<member id>/<node id>``."""

    def __init__(self, client: EtcdClient, chain_id: int) -> None:
        self._client = client
        self._prefix = f"scf/{chain_id}/document-homes/"

    def _member_prefix(self, member_id: int) -> bytes:
        return f"{self._prefix}{member_id}/".encode()

    def publish(self, claim: HomeClaim) -> None:
        self._client.put(
            self._member_prefix(claim.member_id) + claim.node_id.lower().encode(), claim.to_json()
        )

    def withdraw(self, member_id: int, node: bytes) -> None:
        """The member moved away from ``node`` (anyone who can write to etcd can do this:
        the board can hide a home, never forge one)."""
        self._client.delete_range(self._member_prefix(member_id) + ("0x" + node.hex()).encode())

    def claims(self, member_id: int) -> list[HomeClaim]:
        prefix = self._member_prefix(member_id)
        found = self._client.range(prefix, prefix_end(prefix)).kvs
        return [c for c in (HomeClaim.from_json(kv.value) for kv in found) if c is not None]


class Homes:
    """Which nodes serve a member: the board's claims that hold against the chain."""

    def __init__(
        self, board: HomeBoard, chain_id: int, is_node_allowed: Callable[[bytes], bool]
    ) -> None:
        self._board = board
        self._chain_id = chain_id
        self._is_node_allowed = is_node_allowed

    def of(self, session: Session, member_id: int) -> list[HomeClaim]:
        """The member's home nodes, the newest valid claim of each."""
        accounts = {
            a.lower()
            for a in session.scalars(
                select(MemberAccountRow.address).where(MemberAccountRow.member_id == member_id)
            )
        }
        newest: dict[str, HomeClaim] = {}
        for claim in self._board.claims(member_id):
            if claim.chain_id != self._chain_id or claim.member_id != member_id:
                continue
            if claim.signer() not in accounts:
                continue  # not signed by the member: whoever wrote it, it says nothing
            if not self._is_node_allowed(bytes.fromhex(claim.node_id.removeprefix("0x"))):
                continue
            current = newest.get(claim.node_id.lower())
            if current is None or claim.issued_at > current.issued_at:
                newest[claim.node_id.lower()] = claim
        return list(newest.values())

    def claim(self, session: Session, member_id: int, node: bytes) -> HomeClaim | None:
        """The member's valid claim that ``node`` serves it, if any."""
        wanted = "0x" + node.hex()
        return next((c for c in self.of(session, member_id) if c.node_id.lower() == wanted), None)

    def serves(self, session: Session, member_id: int, node: bytes) -> bool:
        return self.claim(session, member_id, node) is not None


class HomePublisher:
    """Publishes a claim for each member whose key this node holds (custody) and whose
    claim naming this node at ``url`` is not on the board yet: members admitted with an
    account of this node's get their home without an operator's step."""

    def __init__(
        self,
        board: HomeBoard,
        identity: NodeIdentity,
        url: str,
        certificate: str,
        key_of: Callable[[str], bytes | None],
    ) -> None:
        self._board = board
        self._identity = identity
        self._url = url
        self._certificate = certificate
        self._key_of = key_of

    def publish_missing(self, session: Session) -> int:
        """How many claims were published."""
        own = "0x" + self._identity.node_id.hex()
        published = 0
        accounts = session.execute(
            select(MemberAccountRow.member_id, MemberAccountRow.address).order_by(
                MemberAccountRow.member_id
            )
        )
        done: set[int] = set()
        for member_id, address in accounts:
            if member_id in done:
                continue
            key = self._key_of(address)
            if key is None:
                continue
            done.add(member_id)
            current = [c for c in self._board.claims(member_id) if c.node_id.lower() == own]
            if any(self._current(c, address) for c in current):
                continue
            self._board.publish(
                sign_home_claim(
                    key,
                    self._identity.chain_id,
                    member_id,
                    self._identity.node_id,
                    self._url,
                    self._certificate,
                )
            )
            log.info("published member %s's home: node %s at %s", member_id, own, self._url)
            published += 1
        return published

    def _current(self, claim: HomeClaim, address: str) -> bool:
        """Whether ``claim`` says what this node would (URL and certificate, by the
        account it would sign with): a renewed certificate or a new URL is published."""
        return (
            claim.url == self._url
            and claim.certificate == self._certificate
            and claim.signer() == address.lower()
        )


# ---- the envelope ---------------------------------------------------------------------------


class PeerRefused(ScfError):
    """The receiving node refuses an envelope; ``http_status`` says whether for good."""

    code = "document_delivery_refused"
    http_status = 403


class PeerHashMismatch(PeerRefused):
    code = "document_hash_mismatch"
    http_status = 422


class PeerNotFound(PeerRefused):
    code = "not_found"
    http_status = 404


class PeerMalformed(PeerRefused):
    code = "invalid_request"
    http_status = 400


class PeerTooLarge(PeerRefused):
    code = "payload_too_large"
    http_status = 413


@dataclass(frozen=True)
class Envelope:
    chain_id: int
    hash: str
    owner_id: int
    filename: str
    content_type: str
    content: bytes
    recipients: tuple[int, ...]  # the parties the receiving node serves
    timestamp: int
    public_key: bytes  # the sending node's
    signature: bytes

    def digest(self) -> bytes:
        return envelope_digest(
            self.chain_id,
            self.timestamp,
            self.hash,
            self.owner_id,
            self.recipients,
            self.filename,
            self.content_type,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "hash": self.hash,
            "owner_id": self.owner_id,
            "filename": self.filename,
            "content_type": self.content_type,
            "content": base64.b64encode(self.content).decode(),
            "recipients": list(self.recipients),
            "timestamp": self.timestamp,
            "public_key": "0x" + self.public_key.hex(),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, raw: Any) -> Envelope:
        try:
            return cls(
                chain_id=int(raw["chain_id"]),
                hash=str(raw["hash"]).lower(),
                owner_id=int(raw["owner_id"]),
                filename=str(raw["filename"]),
                content_type=str(raw["content_type"]),
                content=base64.b64decode(raw["content"], validate=True),
                recipients=tuple(int(r) for r in raw["recipients"]),
                timestamp=int(raw["timestamp"]),
                public_key=bytes.fromhex(str(raw["public_key"]).removeprefix("0x")),
                signature=bytes.fromhex(str(raw["signature"]).removeprefix("0x")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PeerMalformed(f"no document envelope: {exc!r}") from None


def envelope_digest(
    chain_id: int,
    timestamp: int,
    digest: str,
    owner_id: int,
    recipients: Iterable[int],
    filename: str,
    content_type: str,
) -> bytes:
    """What the sending node signs; the content is covered by the hash, which the
    receiver checks against it."""
    return bytes(
        keccak(
            b"scf-document"
            + _u64(chain_id)
            + _u64(timestamp)
            + bytes.fromhex(digest.removeprefix("0x"))
            + _u64(owner_id)
            + b"".join(_u64(r) for r in recipients)
            + bytes(keccak(filename.encode() + b"\x00" + content_type.encode()))
        )
    )


@dataclass(frozen=True)
class FetchRequest:
    """A node asks for a document again for a member it serves (it lost its copy)."""

    chain_id: int
    hash: str
    member_id: int
    timestamp: int
    public_key: bytes  # the asking node's
    signature: bytes

    def digest(self) -> bytes:
        return bytes(
            keccak(
                b"scf-document-fetch"
                + _u64(self.chain_id)
                + _u64(self.timestamp)
                + bytes.fromhex(self.hash.removeprefix("0x"))
                + _u64(self.member_id)
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "hash": self.hash,
            "member_id": self.member_id,
            "timestamp": self.timestamp,
            "public_key": "0x" + self.public_key.hex(),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, raw: Any) -> FetchRequest:
        try:
            return cls(
                chain_id=int(raw["chain_id"]),
                hash=str(raw["hash"]).lower(),
                member_id=int(raw["member_id"]),
                timestamp=int(raw["timestamp"]),
                public_key=bytes.fromhex(str(raw["public_key"]).removeprefix("0x")),
                signature=bytes.fromhex(str(raw["signature"]).removeprefix("0x")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PeerMalformed(f"no fetch request: {exc!r}") from None


@dataclass(frozen=True)
class NodeIdentity:
    chain_id: int
    key: NodeKey

    @property
    def node_id(self) -> bytes:
        return node_id(self.key.public_key)

    def fetch_request(self, digest: str, member_id: int) -> FetchRequest:
        unsigned = FetchRequest(
            self.chain_id, digest.lower(), member_id, int(time.time()), self.key.public_key, b""
        )
        return replace(unsigned, signature=self.key.seal(unsigned.digest()))

    def envelope(self, row: DocumentRow, content: bytes, recipients: Iterable[int]) -> Envelope:
        timestamp = int(time.time())
        ordered = tuple(sorted(recipients))
        digest = envelope_digest(
            self.chain_id,
            timestamp,
            row.hash,
            row.owner_id,
            ordered,
            row.filename,
            row.content_type,
        )
        return Envelope(
            chain_id=self.chain_id,
            hash=row.hash,
            owner_id=row.owner_id,
            filename=row.filename,
            content_type=row.content_type,
            content=content,
            recipients=ordered,
            timestamp=timestamp,
            public_key=self.key.public_key,
            signature=self.key.seal(digest),
        )


# ---- the sending side -----------------------------------------------------------------------


class DocumentExchange:
    """The uploader's node: records its members share go to the parties' nodes."""

    def __init__(self, identity: NodeIdentity, homes: Homes) -> None:
        self.identity = identity
        self.homes = homes

    def enqueue(self, session: Session, row: DocumentRow, parties: Iterable[int]) -> int:
        """A delivery per party not enqueued before, in the caller's transaction: where it
        goes is found when it is sent (``Deliverer``), so an upload neither waits on etcd
        nor misses a party whose home is published later. How many were added."""
        known = set(
            session.scalars(
                select(DocumentDeliveryRow.member_id).where(
                    DocumentDeliveryRow.document_id == row.id
                )
            )
        )
        added = [m for m in sorted(set(parties)) if m not in known and m != row.owner_id]
        session.add_all(_delivery(row.id, member_id) for member_id in added)
        session.flush()
        return len(added)


def _delivery(
    document_id: int, member_id: int, claim: HomeClaim | None = None
) -> DocumentDeliveryRow:
    return DocumentDeliveryRow(
        document_id=document_id,
        member_id=member_id,
        node_id="" if claim is None else claim.node_id.lower(),  # "": not resolved yet
        url="" if claim is None else claim.url,
        certificate="" if claim is None else claim.certificate,
        state=PENDING,
        attempts=0,
        next_attempt_at=0,
        last_error="",
    )


def open_record(vault: DocumentVault, row: DocumentRow) -> bytes | None:
    """The record's plaintext, if it still decrypts and hashes to its hash."""
    if row.key_id != vault.key_id:
        return None
    try:
        plaintext = vault.open_sealed(row.nonce, row.ciphertext, row.hash)
    except InvalidTag:
        return None
    return plaintext if document_hash(plaintext) == row.hash else None


class Transport(Protocol):
    """Sends an envelope to the node at ``url`` whose TLS certificate has the SHA-256
    ``certificate``: the HTTP status and a short reason; raises (any Exception) when the
    node cannot be reached or is not that node."""

    def send(self, url: str, certificate: str, envelope: Envelope) -> tuple[int, str]: ...


def _retry_later(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


class Deliverer:
    """Sends the outbox's pending deliveries until each is taken or refused for good;
    ``run_once`` is one pass, ``start`` runs passes on a thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: DocumentVault,
        identity: NodeIdentity,
        homes: Homes,
        transport: Transport,
        interval: float = 1.0,
        publisher: HomePublisher | None = None,
    ) -> None:
        self._publisher = publisher
        self._sessions = sessions
        self._vault = vault
        self._identity = identity
        self._homes = homes
        self._transport = transport
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: int | None = None) -> int:
        """Try every due delivery once; how many were delivered."""
        moment = int(time.time()) if now is None else now
        with self._sessions() as session:
            due = list(
                session.scalars(
                    select(DocumentDeliveryRow)
                    .where(
                        DocumentDeliveryRow.state == PENDING,
                        DocumentDeliveryRow.next_attempt_at <= moment,
                    )
                    .order_by(DocumentDeliveryRow.id)
                    .limit(BATCH)
                )
            )
            delivered = 0
            for delivery in due:
                delivered += self._attempt(session, delivery, moment)
                session.commit()  # each outcome kept at once: a crash repeats one send at most
            return delivered

    def _attempt(self, session: Session, delivery: DocumentDeliveryRow, moment: int) -> int:
        row = session.get(DocumentRow, delivery.document_id)
        plaintext = None if row is None else open_record(self._vault, row)
        if row is None or plaintext is None:
            delivery.state, delivery.last_error = REFUSED, "the record is gone or damaged here"
            log.error(
                "document delivery %s: record %s unreadable", delivery.id, delivery.document_id
            )
            return 0
        if not delivery.node_id and not self._resolve(session, delivery, moment):
            return 0
        envelope = self._identity.envelope(row, plaintext, [delivery.member_id])
        delivery.attempts += 1
        try:
            status, reason = self._transport.send(delivery.url, delivery.certificate, envelope)
        except Exception as exc:  # unreachable: the node is down or the network is
            status, reason = 0, f"unreachable: {exc!r}"
        if 200 <= status < 300:
            delivery.state, delivery.last_error = DELIVERED, ""
            log.info(
                "document %s delivered to node %s for member %s",
                row.hash,
                delivery.node_id,
                delivery.member_id,
            )
            return 1
        delivery.last_error = reason[:512]
        if status and not _retry_later(status):
            delivery.state = REFUSED
            log.error(
                "document %s refused by node %s (%s): %s",
                row.hash,
                delivery.node_id,
                status,
                reason,
            )
            return 0
        self._later(delivery, moment)
        log.warning("document %s to node %s: %s; retrying", row.hash, delivery.node_id, reason)
        return 0

    @staticmethod
    def _later(delivery: DocumentDeliveryRow, moment: int) -> None:
        delivery.next_attempt_at = moment + min(2 ** min(delivery.attempts, 6), MAX_BACKOFF_SECONDS)

    def _resolve(self, session: Session, delivery: DocumentDeliveryRow, moment: int) -> bool:
        """Point the delivery at the party's home node (one more delivery per further
        home); False when there is nothing to send now: no home published yet (tried
        again later), or the party's home is this node."""
        claims = self._homes.of(session, delivery.member_id)
        own = "0x" + self._identity.node_id.hex()
        remote = [c for c in claims if c.node_id.lower() != own]
        if not remote:
            if claims:
                delivery.state, delivery.last_error = LOCAL, ""
            else:
                delivery.attempts += 1
                delivery.last_error = "no home node published for the member yet"
                self._later(delivery, moment)
            return False
        first, *others = remote
        delivery.node_id = first.node_id.lower()
        delivery.url, delivery.certificate = first.url, first.certificate
        session.add_all(_delivery(delivery.document_id, delivery.member_id, c) for c in others)
        session.flush()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="document-deliverer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        passes = 0
        while not self._stop.wait(self._interval):
            try:
                if self._publisher is not None and passes % PUBLISH_EVERY == 0:
                    with self._sessions() as session:
                        self._publisher.publish_missing(session)
                passes += 1
                self.run_once()
            except Exception:  # the next pass tries again; the outbox keeps everything
                log.exception("document delivery pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# ---- the receiving side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    document_id: int
    recipients: tuple[int, ...]
    created: bool


class Receiver:
    """The party's node: takes an envelope from an allowed node that serves the document's
    owner, for members this node serves, whose content hashes to the hash."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: DocumentVault,
        identity: NodeIdentity,
        homes: Homes,
        is_node_allowed: Callable[[bytes], bool],
        max_bytes: int,
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._identity = identity
        self._homes = homes
        self._is_node_allowed = is_node_allowed
        self._max_bytes = max_bytes

    def accept(self, envelope: Envelope, peer_certificate: str | None) -> Accepted:
        """``peer_certificate``: the SHA-256 of the client's TLS certificate."""
        sender = self._sender(envelope)
        if len(envelope.content) > self._max_bytes:
            raise PeerTooLarge(f"a document may hold at most {self._max_bytes} bytes")
        if document_hash(envelope.content) != envelope.hash:
            raise PeerHashMismatch(
                f"the content does not hash to {envelope.hash}: refused",
                details={"hash": envelope.hash},
            )
        with self._sessions() as session:
            claim = self._homes.claim(session, envelope.owner_id, sender)
            if claim is None:
                raise PeerRefused("the sending node does not serve the document's owner")
            if claim.certificate != peer_certificate:
                # the signing node's key, someone else's TLS connection
                raise PeerRefused("the TLS certificate is not the signing node's")
            recipients = set(envelope.recipients) - {envelope.owner_id}
            own = self._identity.node_id
            if not recipients or not all(self._homes.serves(session, r, own) for r in recipients):
                raise PeerRefused("this node serves none or not all of the recipients")
            accepted = self._store(session, envelope, recipients)
        log.info(
            "document %s received from node 0x%s for members %s",
            envelope.hash,
            sender.hex(),
            sorted(recipients),
        )
        return accepted

    def _sender(self, signed: Envelope | FetchRequest) -> bytes:
        """The allowed node that signed ``signed`` for this chain, recently."""
        if signed.chain_id != self._identity.chain_id:
            raise PeerRefused(f"a request of chain {signed.chain_id}, this node's is another")
        if abs(time.time() - signed.timestamp) > MAX_AGE_SECONDS:
            raise PeerRefused("the request's time is too far off")
        if recover_public_key(signed.signature, signed.digest()) != signed.public_key:
            raise PeerRefused("the request's signature is not the sending node's key")
        sender = node_id(signed.public_key)
        if not self._is_node_allowed(sender):
            raise PeerRefused("the sending node is not on the NodeRegistry allow-list")
        return sender

    def serve_fetch(self, request: FetchRequest, peer_certificate: str | None) -> Envelope:
        """The document for ``request.member_id``, to the node that serves that member and
        asks with the certificate its home claim names; refused otherwise, and the same
        404 whether the document does not exist here or the member is no party of it."""
        asker = self._sender(request)
        with self._sessions() as session:
            claim = self._homes.claim(session, request.member_id, asker)
            if claim is None:
                raise PeerRefused("the asking node does not serve that member")
            if claim.certificate != peer_certificate:
                raise PeerRefused("the TLS certificate is not the asking node's")
            party = (
                select(DocumentPartyRow.member_id)
                .where(
                    DocumentPartyRow.document_id == DocumentRow.id,
                    DocumentPartyRow.member_id == request.member_id,
                )
                .exists()
            )
            row = session.scalars(
                select(DocumentRow)
                .where(
                    DocumentRow.hash == request.hash,
                    (DocumentRow.owner_id == request.member_id) | party,
                )
                .order_by(DocumentRow.id)
                .limit(1)
            ).first()
            plaintext = None if row is None else open_record(self._vault, row)
            if row is None or plaintext is None:
                raise PeerNotFound(f"no document {request.hash} for that member here")
            return self._identity.envelope(row, plaintext, [request.member_id])

    def _store(self, session: Session, envelope: Envelope, recipients: set[int]) -> Accepted:
        existing = session.scalars(
            select(DocumentRow).where(
                DocumentRow.owner_id == envelope.owner_id, DocumentRow.hash == envelope.hash
            )
        ).one_or_none()
        created = existing is None
        if existing is None:
            nonce, ciphertext = self._vault.seal(envelope.content, envelope.hash)
            existing = DocumentRow(
                hash=envelope.hash,
                owner_id=envelope.owner_id,
                filename=envelope.filename[:256],
                content_type=envelope.content_type[:128],
                size=len(envelope.content),
                key_id=self._vault.key_id,
                nonce=nonce,
                ciphertext=ciphertext,
                created_at=int(time.time()),
            )
            session.add(existing)
            try:
                session.flush()
            except IntegrityError:  # the same envelope arrived twice at once
                session.rollback()
                return self._store(session, envelope, recipients)
        added = recipients - set(party_ids(session, existing.id))
        session.add_all(DocumentPartyRow(document_id=existing.id, member_id=m) for m in added)
        session.commit()
        return Accepted(existing.id, tuple(sorted(recipients)), created)
