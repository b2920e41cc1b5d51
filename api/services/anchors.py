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

from api.readmodel.models import MemberRow
from api.services.documents import readers_by_record
from chain.errors import ScfError


class DocumentNotStored(ScfError):
    code = "document_not_stored"
    http_status = 422


class DocumentNotShared(ScfError):
    code = "document_not_shared"
    http_status = 422


def require_stored_document(
    session: Session,
    member: MemberRow,
    digest: str,
    *,
    field: str,
    shared_with: int | None = None,
) -> None:
    """That ``digest`` names a stored document ``member`` can read (the owner or a party of
    a record of it) and, with ``shared_with``, that this member can read the same record
    too; ``DocumentNotStored`` / ``DocumentNotShared`` (422) naming ``field`` otherwise.
    Only records ``member`` can read count: whether anyone else holds the bytes stays
    unsaid."""
    records = readers_by_record(session, digest.lower())
    readable = [readers for readers in records.values() if member.id in readers]
    if not readable:
        raise DocumentNotStored(
            f"the {field} {digest} is not a document stored on this platform that you can "
            "read: store the document with POST /v1/documents and use the hash it returns",
            details={"field": field, "hash": digest},
        )
    if shared_with is not None and not any(shared_with in readers for readers in readable):
        raise DocumentNotShared(
            f"member {shared_with} cannot read the {field} {digest}: its owner adds it as a "
            "party (POST /v1/documents again with the same content and its id in party_ids)",
            details={"field": field, "hash": digest, "member_id": shared_with},
        )
