"""A short secret kept sealed at rest with the node's data key (``keys/documents.key``):
AES-256-GCM, bound by associated data to the row it belongs to, stored as
``v1.<base64 nonce+ciphertext>``. The database alone (a dump, a replica, a copy of
``scf.db``) then does not give the secret away, and a sealed value moved onto another
row does not open. Webhook signing secrets and portal users' TOTP secrets use it."""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidTag

from api.services.documents import NONCE_BYTES, DocumentVault

SEALED_PREFIX = "v1."


class SealedTextUnreadable(Exception):
    """A sealed value does not open with this node's key (another key, or altered)."""


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


def seal_text(vault: DocumentVault, text: str, bound_to: str) -> str:
    nonce, ciphertext = vault.seal(text.encode(), bound_to)
    return SEALED_PREFIX + base64.b64encode(nonce + ciphertext).decode()


def open_text(vault: DocumentVault, stored: str, bound_to: str) -> str:
    """The text ``stored`` holds (sealed, or plain text from before sealing)."""
    if not is_sealed(stored):
        return stored
    try:
        sealed = base64.b64decode(stored[len(SEALED_PREFIX) :], validate=True)
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        return vault.open_sealed(nonce, ciphertext, bound_to).decode()
    except (InvalidTag, ValueError) as exc:
        raise SealedTextUnreadable(bound_to) from exc
