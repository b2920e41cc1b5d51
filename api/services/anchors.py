"""What an on-chain anchor must point at: a document stored on this platform.

An invoice's ``document_hash`` and a financing request's ``agreement_hash`` go on chain as
bare hashes; the ledger cannot see documents. So the API checks, before anything is signed,
that the hash names a document stored here (``POST /v1/documents``) that the anchoring member
can read, and, for an agreement, that its counterparty can read it too: a financier approves
an agreement it has seen. A member that calls the ledger directly bypasses this check (the
contracts still bind the hash); auditors can find such anchors with
``GET /v1/documents/{hash}/verify``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.readmodel.models import DocumentRow, MemberRow
from api.services.documents import party_ids
from chain.errors import ScfError


class DocumentNotStored(ScfError):
    code = "document_not_stored"
    http_status = 422


class DocumentNotShared(ScfError):
    code = "document_not_shared"
    http_status = 422


def _readers(session: Session, row: DocumentRow) -> set[int]:
    return {row.owner_id, *party_ids(session, row.hash)}


def require_stored_document(
    session: Session,
    member: MemberRow,
    digest: str,
    *,
    field: str,
    shared_with: int | None = None,
) -> DocumentRow:
    """The stored document ``digest`` that ``member`` can read (its owner or a party), and
    that member ``shared_with`` can read as well; ``DocumentNotStored`` / ``DocumentNotShared``
    (422) naming ``field`` otherwise."""
    row = session.get(DocumentRow, digest.lower())
    readers = set() if row is None else _readers(session, row)
    if row is None or member.id not in readers:
        raise DocumentNotStored(
            f"the {field} {digest} is not a document stored on this platform that you can "
            "read: store the document with POST /v1/documents and use the hash it returns",
            details={"field": field, "hash": digest},
        )
    if shared_with is not None and shared_with not in readers:
        raise DocumentNotShared(
            f"member {shared_with} cannot read the {field} {digest}: its owner adds it as a "
            "party (POST /v1/documents again with the same content and its id in party_ids)",
            details={"field": field, "hash": digest, "member_id": shared_with},
        )
    return row
