"""Off-chain documents: encrypted at rest, readable only by their parties.

A document's identity is the SHA-256 of its plaintext (0x-hex): the value members
anchor on chain as an invoice's ``document_hash`` or a financing request's
``agreement_hash``. The node encrypts every document with AES-256-GCM under its data
key (a fresh 96-bit nonce each time, the hash as associated data, so a ciphertext
cannot be swapped onto another document's row unnoticed).

Each uploader has a record of its own (``DocumentRow``: one per owner and hash). A member
uploading bytes that another member stored gets a new record, answered exactly as any
first upload is: nothing tells it that someone else holds them. Who may read a hash: the
owner of a record of it, the members an owner lists as parties of its record, and
auditors. Anyone else gets the same 404 as for a document that does not exist.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.readmodel.models import (
    DocumentPartyRow,
    DocumentRow,
    FinancingRequestRow,
    InvoiceRow,
    MemberRow,
)
from api.services.visibility import NotFound, is_auditor
from chain.errors import ConfigurationError, ScfError

KEY_BYTES = 32
NONCE_BYTES = 12


class DocumentTooLarge(ScfError):
    code = "payload_too_large"
    http_status = 413


class UnknownParty(ScfError):
    code = "member_not_found"
    http_status = 422


class DocumentCorrupted(ScfError):
    """The stored ciphertext no longer decrypts to its hash: the node's storage is damaged
    or was tampered with (a platform fault, never the caller's)."""

    code = "document_corrupted"
    http_status = 500


class DocumentVault:
    """AES-256-GCM with the node's data key; ``key_id`` names the key a row was sealed with."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a document key is {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"scf-document-key:" + key).hexdigest()[:16]

    @classmethod
    def open(cls, path: Path) -> DocumentVault:
        """The key in ``path``, created (32 random bytes, mode 0600) if it is not there yet."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting at once cannot both write a key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
            if len(key) != KEY_BYTES:
                raise ConfigurationError(
                    f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte document key; "
                    "restore it from a backup (documents sealed with it are unreadable without)"
                ) from None
            return cls(key)
        key = secrets.token_bytes(KEY_BYTES)
        with os.fdopen(fd, "wb") as file:
            file.write(key)
            file.flush()
            os.fsync(file.fileno())
        return cls(key)

    def seal(self, plaintext: bytes, document_hash: str) -> tuple[bytes, bytes]:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce, self._aead.encrypt(nonce, plaintext, document_hash.encode())

    def open_sealed(self, nonce: bytes, ciphertext: bytes, document_hash: str) -> bytes:
        """The plaintext; ``InvalidTag`` if the ciphertext, nonce or hash was altered."""
        return self._aead.decrypt(nonce, ciphertext, document_hash.encode())


def party_ids(session: Session, document_id: int) -> list[int]:
    """The members the owner of record ``document_id`` shared it with, in id order."""
    return list(
        session.scalars(
            select(DocumentPartyRow.member_id)
            .where(DocumentPartyRow.document_id == document_id)
            .order_by(DocumentPartyRow.member_id)
        )
    )


def readers_by_record(session: Session, digest: str) -> dict[int, set[int]]:
    """Every record of the hash ``digest``: its id and who may read it (owner and parties)."""
    rows = session.execute(
        select(DocumentRow.id, DocumentRow.owner_id, DocumentPartyRow.member_id)
        .outerjoin(DocumentPartyRow, DocumentPartyRow.document_id == DocumentRow.id)
        .where(DocumentRow.hash == digest)
    )
    readers: dict[int, set[int]] = {}
    for record_id, owner_id, party_id in rows:
        found = readers.setdefault(record_id, {owner_id})
        if party_id is not None:
            found.add(party_id)
    return readers


def document_hash(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


# a consortium node's outbox (``DocumentExchange.enqueue``): the record, its new parties
Outbox = Callable[[Session, DocumentRow, Iterable[int]], object]


@dataclass(frozen=True)
class Upload:
    content: bytes
    filename: str
    content_type: str
    party_ids: frozenset[int]


@dataclass(frozen=True)
class Stored:
    row: DocumentRow
    party_ids: list[int]
    created: bool  # False: the member had stored the same content already


@dataclass(frozen=True)
class Verification:
    intact: bool
    problem: str | None
    invoice_keys: list[str]
    financing_request_ids: list[int]


class Documents:
    """Store, read and verify documents for a member; ``store`` commits its own work."""

    def __init__(
        self,
        session: Session,
        vault: DocumentVault,
        max_bytes: int,
        outbox: Outbox | None = None,
    ) -> None:
        self._session = session
        self._vault = vault
        self._max_bytes = max_bytes
        self._outbox = outbox

    def store(self, member: MemberRow, upload: Upload) -> Stored:
        """The member's record of the content: new (``created``), or the one it stored
        before with the new parties added. Another member's record of the same bytes plays
        no part: its existence must not show in the answer."""
        if len(upload.content) > self._max_bytes:
            raise DocumentTooLarge(
                f"a document may hold at most {self._max_bytes} bytes, got {len(upload.content)}",
                details={"limit": self._max_bytes, "size": len(upload.content)},
            )
        parties = upload.party_ids - {member.id}
        self._check_members(parties)
        digest = document_hash(upload.content)
        existing = self._own(member, digest)
        if existing is not None:
            return self._again(existing, parties)
        try:
            stored = self._insert(member, upload, digest, parties)
        except IntegrityError:  # the member stored the same content in a concurrent request
            self._session.rollback()
            own = self._own(member, digest)
            assert own is not None, "the unique (owner, hash) row that refused the insert"
            return self._again(own, parties)
        self._session.commit()
        return stored

    def _own(self, member: MemberRow, digest: str) -> DocumentRow | None:
        return self._session.scalars(
            select(DocumentRow).where(DocumentRow.owner_id == member.id, DocumentRow.hash == digest)
        ).one_or_none()

    def _insert(
        self, member: MemberRow, upload: Upload, digest: str, parties: frozenset[int]
    ) -> Stored:
        nonce, ciphertext = self._vault.seal(upload.content, digest)
        row = DocumentRow(
            hash=digest,
            owner_id=member.id,
            filename=upload.filename,
            content_type=upload.content_type,
            size=len(upload.content),
            key_id=self._vault.key_id,
            nonce=nonce,
            ciphertext=ciphertext,
            created_at=int(time.time()),
        )
        self._session.add(row)
        self._session.flush()  # the record first: its id is what parties refer to
        self._session.add_all(DocumentPartyRow(document_id=row.id, member_id=m) for m in parties)
        self._send(row, parties)
        self._session.flush()
        return Stored(row, sorted(parties), created=True)

    def _again(self, row: DocumentRow, parties: frozenset[int]) -> Stored:
        """The owner uploads its content again: its record, with the new parties added."""
        current = set(party_ids(self._session, row.id))
        added = parties - current
        self._session.add_all(DocumentPartyRow(document_id=row.id, member_id=m) for m in added)
        self._send(row, added)
        self._session.commit()
        return Stored(row, sorted(current | added), created=False)

    def _send(self, row: DocumentRow, parties: Iterable[int]) -> None:
        """Parties served by other institutions' nodes get the record through the outbox,
        written in this transaction: committed with the record, or not at all."""
        if self._outbox is not None and parties:
            self._outbox(self._session, row, parties)

    def _check_members(self, member_ids: frozenset[int]) -> None:
        if not member_ids:
            return
        known = set(self._session.scalars(select(MemberRow.id).where(MemberRow.id.in_(member_ids))))
        unknown = sorted(member_ids - known)
        if unknown:
            raise UnknownParty(
                f"no members {unknown}: parties must be consortium members",
                details={"party_ids": unknown},
            )

    def visible(self, member: MemberRow, digest: str) -> DocumentRow:
        """The record of ``digest`` that ``member`` reads: its own, else the first one
        shared with it (the first of all for an auditor); otherwise 404, as if it did not
        exist."""
        digest = digest.lower()
        own = DocumentRow.owner_id == member.id
        query = select(DocumentRow).where(DocumentRow.hash == digest)
        if not is_auditor(member):
            shared = (
                select(DocumentPartyRow.member_id)
                .where(
                    DocumentPartyRow.document_id == DocumentRow.id,
                    DocumentPartyRow.member_id == member.id,
                )
                .exists()
            )
            query = query.where(own | shared)
        row = self._session.scalars(
            query.order_by(case((own, 0), else_=1), DocumentRow.id).limit(1)
        ).first()
        if row is None:
            raise NotFound("document", digest)
        return row

    def read(self, member: MemberRow, digest: str) -> tuple[DocumentRow, bytes]:
        row = self.visible(member, digest)
        plaintext, problem = self._decrypt(row)
        if plaintext is None:
            raise DocumentCorrupted(
                f"document {row.hash} failed its integrity check: {problem}",
                details={"hash": row.hash},
            )
        return row, plaintext

    def verify(self, member: MemberRow, digest: str) -> Verification:
        """Whether the stored ciphertext decrypts and re-hashes to ``digest``, and where the
        hash is anchored on chain (the anchors ``member`` may see)."""
        row = self.visible(member, digest)
        _, problem = self._decrypt(row)
        invoices = select(InvoiceRow.key).where(InvoiceRow.document_hash == row.hash)
        requests = select(FinancingRequestRow.id).where(
            FinancingRequestRow.agreement_hash == row.hash
        )
        if not is_auditor(member):
            invoices = invoices.where(
                (InvoiceRow.seller_id == member.id) | (InvoiceRow.buyer_id == member.id)
            )
            requests = requests.where(
                (FinancingRequestRow.requester_id == member.id)
                | (FinancingRequestRow.financier_id == member.id)
            )
        return Verification(
            intact=problem is None,
            problem=problem,
            invoice_keys=list(self._session.scalars(invoices.order_by(InvoiceRow.key))),
            financing_request_ids=list(
                self._session.scalars(requests.order_by(FinancingRequestRow.id))
            ),
        )

    def _decrypt(self, row: DocumentRow) -> tuple[bytes | None, str | None]:
        if row.key_id != self._vault.key_id:
            return None, f"sealed with data key {row.key_id}, this node has {self._vault.key_id}"
        try:
            plaintext = self._vault.open_sealed(row.nonce, row.ciphertext, row.hash)
        except InvalidTag:
            return None, "the ciphertext does not authenticate under the node's data key"
        if document_hash(plaintext) != row.hash:
            return None, "the plaintext does not hash to the document's hash"
        return plaintext, None
