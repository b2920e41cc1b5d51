"""Webhook signing secrets, sealed at rest with the node's data key.

Every delivery is signed with its webhook's secret (HMAC-SHA256), so the node must keep
the secret itself, not a hash of it as for API keys. It is kept sealed: AES-256-GCM
under the node's data key (``api.services.sealed_text``), with the webhook's member and
URL as associated data.
The database alone (a dump, a PostgreSQL replica, a copy of ``scf.db``) then gives no
one the means to forge deliveries, and a sealed secret moved onto another webhook's row
does not open.

Webhooks registered before secrets were sealed hold them in plain text (``whsec_...``);
``seal_plaintext_secrets`` seals those when the node starts.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.readmodel.models import WebhookRow
from api.services.documents import DocumentVault
from api.services.sealed_text import SEALED_PREFIX, SealedTextUnreadable, open_text, seal_text

UNREADABLE = "its signing secret does not open with this node's data key (keys/documents.key)"


class SecretUnreadable(Exception):
    """A sealed secret does not open with this node's key (another key, or altered)."""


def _bound_to(member_id: int, url: str) -> str:
    return f"scf-webhook-secret:{member_id}:{url}"


def seal_secret(vault: DocumentVault, secret: str, member_id: int, url: str) -> str:
    """``secret`` as stored for the webhook of ``member_id`` at ``url``."""
    return seal_text(vault, secret, _bound_to(member_id, url))


def open_secret(vault: DocumentVault, stored: str, member_id: int, url: str) -> str:
    """The secret a webhook row holds (sealed, or plain text from before sealing)."""
    try:
        return open_text(vault, stored, _bound_to(member_id, url))
    except SealedTextUnreadable as exc:
        raise SecretUnreadable(UNREADABLE) from exc


def seal_plaintext_secrets(session: Session, vault: DocumentVault) -> int:
    """Seal the secrets still stored in plain text; return how many (commits)."""
    rows = session.scalars(
        select(WebhookRow).where(WebhookRow.secret.not_like(SEALED_PREFIX + "%"))
    ).all()
    for row in rows:
        row.secret = seal_secret(vault, row.secret, row.member_id, row.url)
    session.commit()
    return len(rows)


__all__ = [
    "SEALED_PREFIX",
    "UNREADABLE",
    "SecretUnreadable",
    "open_secret",
    "seal_plaintext_secrets",
    "seal_secret",
]
