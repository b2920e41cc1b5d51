"""Portal users' TOTP secrets, sealed at rest with the node's data key.

A TOTP code is checked against the secret itself, so the node keeps the secret, not a
hash of it; it is kept sealed as webhook secrets are (``api.services.sealed_text``),
bound to the user's member and e-mail, so the database alone does not let anyone make
codes and a sealed secret copied onto another user's row does not open. Users created
before secrets were sealed hold them in plain text; ``seal_plaintext_totp_secrets`` seals
those when the node starts (the read model's migration cannot: the key is the node's).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.readmodel.models import PortalUserRow
from api.services.documents import DocumentVault
from api.services.sealed_text import SEALED_PREFIX, SealedTextUnreadable, open_text, seal_text
from chain.errors import ScfError


class NoDataKey(ScfError):
    """This API node has no data key to seal or open a TOTP secret with."""

    code = "writes_unavailable"
    http_status = 503


def _bound_to(member_id: int, email: str) -> str:
    return f"scf-portal-totp:{member_id}:{email}"


def seal_totp_secret(vault: DocumentVault | None, secret: str, member_id: int, email: str) -> str:
    if vault is None:
        raise NoDataKey("this API node has no data key to keep a TOTP secret with")
    return seal_text(vault, secret, _bound_to(member_id, email))


def open_totp_secret(vault: DocumentVault | None, row: PortalUserRow) -> str | None:
    """The user's TOTP secret; ``None`` if it has none, or if it does not open here (no
    key, another node's key, an altered or moved row): such a user cannot sign in."""
    if row.totp_secret is None:
        return None
    if vault is None:
        return None if row.totp_secret.startswith(SEALED_PREFIX) else row.totp_secret
    try:
        return open_text(vault, row.totp_secret, _bound_to(row.member_id, row.email))
    except SealedTextUnreadable:
        return None


def seal_plaintext_totp_secrets(session: Session, vault: DocumentVault) -> int:
    """Seal the TOTP secrets still stored in plain text; return how many (commits)."""
    rows = session.scalars(
        select(PortalUserRow).where(
            PortalUserRow.totp_secret.is_not(None),
            PortalUserRow.totp_secret.not_like(SEALED_PREFIX + "%"),
        )
    ).all()
    for row in rows:
        assert row.totp_secret is not None
        row.totp_secret = seal_totp_secret(vault, row.totp_secret, row.member_id, row.email)
    session.commit()
    return len(rows)
