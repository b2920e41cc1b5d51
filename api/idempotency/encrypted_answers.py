"""Kept answers that carry a secret, sealed: under the Idempotency-Key, or the node's key.

An anonymous POST's answer can carry a secret: an application's API key, shown once. The
operations table keeps such an answer sealed with AES-256-GCM under a key that
HKDF-SHA256 derives from the Idempotency-Key and a random salt per answer; the operation
id, the request's fingerprint and the status code are its associated data, so a sealed
body opens only on its own row and request. The table holds the Idempotency-Key only as
its SHA-256: the database alone cannot open an answer, a replay (which presents the key)
can. That is as strong as the key is unguessable, hence ``MIN_KEY_LENGTH``.

A member's POST whose answer carries a secret (a webhook's signing secret, shown once)
is kept sealed with the node's data key instead (``seal_with_node_key``): the member may
read it again through ``/v1/operations`` without presenting the key, and the database
alone still cannot open it.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.services.documents import DocumentVault
from chain.errors import ScfError

# A random UUID has 36 characters, a ULID 26, 16 random bytes in URL-safe base64 22.
MIN_KEY_LENGTH = 22
SCHEME = "aes256gcm-hkdf1"
NODE_KEY_SCHEME = "aes256gcm-nodekey1"
_INFO = b"scf operations: sealed answer"
_SALT_BYTES, _NONCE_BYTES = 16, 12


class SealedAnswerUnreadable(ScfError):
    """The stored answer does not open with the key that found it: the row was altered."""

    code = "stored_response_unreadable"
    http_status = 500


def lookup_key(idempotency_key: str) -> str:
    """What the operations table stores in place of an anonymous Idempotency-Key."""
    return "sha256:" + hashlib.sha256(idempotency_key.encode("ascii")).hexdigest()


def associated_data(operation_id: str, fingerprint: str, status: int) -> bytes:
    return f"{operation_id}\0{fingerprint}\0{status}".encode("ascii")


def seal(idempotency_key: str, context: bytes, plaintext: bytes) -> str:
    """``plaintext`` sealed as ASCII text: scheme, salt, nonce and ciphertext."""
    salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(_derive(idempotency_key, salt)).encrypt(nonce, plaintext, context)
    return ":".join([SCHEME, *(_b64(part) for part in (salt, nonce, ciphertext))])


def unseal(idempotency_key: str, context: bytes, sealed: str) -> bytes:
    try:
        scheme, salt, nonce, ciphertext = sealed.split(":")
        if scheme != SCHEME:
            raise ValueError(scheme)
        key = _derive(idempotency_key, _unb64(salt))
        return AESGCM(key).decrypt(_unb64(nonce), _unb64(ciphertext), context)
    except (ValueError, InvalidTag) as exc:
        raise SealedAnswerUnreadable(
            "the stored answer of this Idempotency-Key cannot be opened; it was altered"
        ) from exc


def seal_with_node_key(vault: DocumentVault, context: bytes, plaintext: bytes) -> str:
    """``plaintext`` sealed with the node's data key, ``context`` bound as associated data."""
    nonce, ciphertext = vault.seal(plaintext, _b64(context))
    return ":".join([NODE_KEY_SCHEME, _b64(nonce), _b64(ciphertext)])


def is_sealed_with_node_key(stored: str) -> bool:
    return stored.startswith(NODE_KEY_SCHEME + ":")


def unseal_with_node_key(vault: DocumentVault | None, context: bytes, sealed: str) -> bytes:
    try:
        if vault is None:
            raise ValueError("this API node has no data key")
        scheme, nonce, ciphertext = sealed.split(":")
        if scheme != NODE_KEY_SCHEME:
            raise ValueError(scheme)
        return vault.open_sealed(_unb64(nonce), _unb64(ciphertext), _b64(context))
    except (ValueError, InvalidTag) as exc:
        raise SealedAnswerUnreadable(
            "the stored answer does not open with this node's data key; it was altered, "
            "or the node's keys/documents.key is not the one it was sealed with"
        ) from exc


def _derive(idempotency_key: str, salt: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO)
    return hkdf.derive(idempotency_key.encode("ascii"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))
