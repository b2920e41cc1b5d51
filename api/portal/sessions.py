"""Server-side portal sessions. The browser's cookie holds a random token; the read model
keeps its SHA-256 (a stolen database opens no session), the session's CSRF token (a
synchronizer token, sent back in every form), and when it began and was last used."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from api.portal.settings import PortalSettings
from api.readmodel.models import PortalSessionRow, PortalUserRow

COOKIE = "scf_portal_session"
TOUCH_EVERY_SECONDS = 15  # last_seen_at is written at most this often (one write, not each)


@dataclass(frozen=True)
class SignedIn:
    """The user behind a request and its session's CSRF token."""

    user: PortalUserRow
    csrf_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: PortalUserRow, now: int) -> str:
    """A new session for ``user`` (the caller commits); its token, for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSessionRow(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def signed_in(
    session: Session, token: str | None, now: int, settings: PortalSettings
) -> SignedIn | None:
    """The session's user, or None when there is none: no or unknown token, ended, idle
    too long, too old, or its user disabled. The caller commits (the touch)."""
    if not token:
        return None
    row = session.get(PortalSessionRow, _hash(token))
    if row is None or row.ended_at is not None:
        return None
    idle = now - row.last_seen_at >= settings.session_idle_seconds
    old = now - row.created_at >= settings.session_absolute_seconds
    user = session.get(PortalUserRow, row.user_id)
    # a disabled user, or one invited again (its password reset), is signed out everywhere
    gone = user is None or user.disabled_at is not None or user.password_hash is None
    if idle or old or gone:
        row.ended_at = now
        return None
    if now - row.last_seen_at >= TOUCH_EVERY_SECONDS:
        row.last_seen_at = now
    assert user is not None
    return SignedIn(user, row.csrf_token)


def end_session(session: Session, token: str | None, now: int) -> None:
    if not token:
        return
    row = session.get(PortalSessionRow, _hash(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now


def csrf_matches(expected: str, sent: str | None) -> bool:
    return sent is not None and secrets.compare_digest(expected.encode(), sent.encode())
