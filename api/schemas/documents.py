"""Request and response bodies of ``/v1/documents``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema

from api.schemas.common import Id, UtcDateTime

MAX_PARTIES = 64


def _strict_base64(value: Any) -> bytes:
    """Standard base64 with padding, refusing stray characters (lenient decoders skip them,
    which would store different bytes than the client meant)."""
    if not isinstance(value, str):
        raise ValueError("content must be a base64 string")
    try:
        content = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("content is not valid base64 (RFC 4648, with padding)") from None
    if not content:
        raise ValueError("a document cannot be empty")
    return content


Base64Content = Annotated[
    bytes,
    PlainValidator(_strict_base64),
    WithJsonSchema(
        {
            "type": "string",
            "contentEncoding": "base64",
            "description": "the file's bytes in base64; at most 10 MiB (by default) once decoded",
            "examples": ["JVBERi0xLjcKJeLjz9M="],
        }
    ),
]

ContentType = Annotated[
    str,
    Field(
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
        description="the MIME type the document is served back with",
    ),
]


class DocumentCreate(BaseModel):
    """A document as JSON: its bytes in standard base64 (RFC 4648, with padding)."""

    content: Base64Content
    filename: str = Field(default="", max_length=256, pattern=r"^[^\x00-\x1f\x7f/\\]*$")
    content_type: ContentType = "application/octet-stream"
    party_ids: list[Id] = Field(
        default=[],
        max_length=MAX_PARTIES,
        description="members allowed to read it besides the uploader (auditors always may)",
    )


class DocumentPublic(BaseModel):
    hash: str = Field(description="SHA-256 of the plaintext, 0x-hex: the value to anchor")
    owner_id: int = Field(description="the uploader: you, for the record an upload answers")
    filename: str
    content_type: str
    size: int = Field(description="plaintext bytes")
    party_ids: list[int]
    created_at: UtcDateTime = Field(description="when the uploader first stored its record")


class DocumentAnchors(BaseModel):
    invoice_keys: list[str] = Field(description="invoices with this document_hash")
    financing_request_ids: list[int] = Field(description="requests with this agreement_hash")


class DocumentVerification(BaseModel):
    hash: str
    intact: bool = Field(description="the stored ciphertext decrypts and re-hashes to `hash`")
    problem: str | None = Field(description="why it is not intact")
    anchors: DocumentAnchors = Field(description="where the hash is on chain (as you may see)")
