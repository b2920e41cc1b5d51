"""Documents: invoice files and agreements, encrypted at rest, readable only by parties.

Upload is JSON with the file's bytes in base64 (every API body is JSON, and the same
``Idempotency-Key`` rules apply); the answer's ``hash`` is what goes on chain.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request, Response

from api.deps import CurrentMember, SessionDep, WritingMember, node_vault
from api.errors import ErrorResponse
from api.schemas.documents import (
    DocumentAnchors,
    DocumentCreate,
    DocumentPublic,
    DocumentVerification,
)
from api.services.container import services_of
from api.services.documents import Documents, Stored, Upload
from api.settings import Settings, get_settings
from api.wire import utc_datetime

router = APIRouter(
    prefix="/v1/documents",
    tags=["documents"],
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)

DocumentHash = Annotated[
    str, Path(pattern="^0x[0-9a-fA-F]{64}$", description="SHA-256 of the plaintext, 0x-hex")
]


async def get_documents(
    request: Request,
    session: SessionDep,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Documents:
    vault = node_vault(request, "this API node has no document key: it cannot store documents")
    exchange = services_of(request.app).document_exchange
    outbox = exchange.enqueue if exchange is not None else None
    return Documents(session, vault, settings.document_max_bytes, outbox=outbox)


DocumentsDep = Annotated[Documents, Depends(get_documents)]


def to_public(stored: Stored) -> DocumentPublic:
    row = stored.row
    return DocumentPublic(
        hash=row.hash,
        owner_id=row.owner_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        party_ids=stored.party_ids,
        created_at=utc_datetime(row.created_at),
    )


@router.post(
    "",
    response_model=DocumentPublic,
    status_code=201,
    responses={
        200: {"model": DocumentPublic, "description": "you had stored the same content already"},
        413: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def create_document(
    body: DocumentCreate, member: WritingMember, documents: DocumentsDep, response: Response
) -> DocumentPublic:
    """Store a document, encrypted at rest; put the returned ``hash`` (SHA-256 of the bytes)
    on chain as an invoice's ``document_hash`` or a financing request's ``agreement_hash``.

    The body is JSON: ``content`` is the file's bytes in standard base64, e.g.
    ``{"content": "JVBERi0xLjcK...", "filename": "invoice.pdf", "content_type":
    "application/pdf", "party_ids": [7]}`` (``base64 -w0 invoice.pdf`` makes it). Parties,
    the uploader and auditors can read it back; at most 10 MiB (``SCF_DOCUMENT_MAX_BYTES``).

    Each member has its own record of a document: the same content again from you answers
    200 with your record, its new ``party_ids`` added. Content another member stored is
    yours to store all the same (201, your record): nothing says whether anyone else holds
    it."""
    upload = Upload(
        content=body.content,
        filename=body.filename,
        content_type=body.content_type,
        party_ids=frozenset(body.party_ids),
    )
    stored = documents.store(member, upload)
    if not stored.created:
        response.status_code = 200
    return to_public(stored)


@router.get(
    "/{document_hash}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
)
def read_document(
    document_hash: DocumentHash, member: CurrentMember, documents: DocumentsDep
) -> Response:
    """The plaintext, with the content type it was uploaded with (parties and auditors)."""
    row, plaintext = documents.read(member, document_hash)
    filename = quote(row.filename or row.hash, safe="")
    return Response(
        content=plaintext,
        media_type=row.content_type,
        headers={
            # never rendered inline by a browser, whatever the uploader called it
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "X-Content-Type-Options": "nosniff",
            "X-Document-Hash": row.hash,
        },
    )


@router.get("/{document_hash}/verify", response_model=DocumentVerification)
def verify_document(
    document_hash: DocumentHash, member: CurrentMember, documents: DocumentsDep
) -> DocumentVerification:
    """Whether the stored ciphertext still decrypts and re-hashes to the hash, and the
    invoices and financing requests (visible to you) that anchor it on chain."""
    result = documents.verify(member, document_hash)
    return DocumentVerification(
        hash=document_hash.lower(),
        intact=result.intact,
        problem=result.problem,
        anchors=DocumentAnchors(
            invoice_keys=result.invoice_keys,
            financing_request_ids=result.financing_request_ids,
        ),
    )
