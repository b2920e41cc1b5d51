"""Portal users: invited, listed and disabled by their member's API key holder; each sets
its own password with a one-time invitation code (the key holder never knows it, and it
never passes through the REST API); signed in with e-mail, password and, if set up, a
TOTP code. Each user acts for its member only."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.portal import passwords, totp
from api.portal.totp_secrets import open_totp_secret, seal_totp_secret
from api.readmodel.models import PortalUserRow
from api.schemas.portal_users import Role
from api.services.documents import DocumentVault
from chain.errors import ScfError

INVITATION_SECONDS = 7 * 86400  # a code not used within a week must be issued again


class PortalUserExists(ScfError):
    code = "portal_user_exists"
    http_status = 409


class WeakPassword(ScfError):
    code = "password_too_short"
    http_status = 422


class PortalUserNotFound(ScfError):
    code = "not_found"
    http_status = 404


class SignInRefused(ScfError):
    """Wrong e-mail, password or code, or a disabled user: one answer for all, so that a
    stranger learns nothing of which accounts exist."""

    code = "sign_in_refused"
    http_status = 401


class InvitationRefused(ScfError):
    """Wrong e-mail or code, a code used or expired, a disabled user: one answer."""

    code = "invitation_refused"
    http_status = 401


@dataclass(frozen=True)
class Invitation:
    user: PortalUserRow
    code: str  # shown once, to the key holder, who hands it to the user
    expires_at: int
    totp_secret: str | None = None  # a new user's, shown once (the row keeps it sealed)


def normalized_email(email: str) -> str:
    return email.strip().lower()


def _hash(code: str) -> str:
    # 192 random bits: a plain SHA-256 makes a stolen database useless, as for API keys
    return hashlib.sha256(code.encode()).hexdigest()


def _invite(row: PortalUserRow, now: int) -> Invitation:
    code = secrets.token_urlsafe(24)
    row.invitation_hash = _hash(code)
    row.invitation_expires_at = now + INVITATION_SECONDS
    return Invitation(row, code, now + INVITATION_SECONDS)


def create_user(
    session: Session,
    member_id: int,
    *,
    name: str,
    email: str,
    role: Role,
    now: int,
    with_totp: bool = False,
    vault: DocumentVault | None = None,
) -> Invitation:
    """Add a user of ``member_id`` without a password, and its invitation (the caller
    commits); its TOTP secret, if asked for, is sealed on the row with the node's data
    key ``vault`` and given in the invitation for the caller to show once."""
    address = normalized_email(email)
    secret = totp.new_secret() if with_totp else None
    row = PortalUserRow(
        member_id=member_id,
        email=address,
        name=name.strip(),
        role=role.value,
        totp_secret=None if secret is None else seal_totp_secret(vault, secret, member_id, address),
        created_at=now,
    )
    invitation = replace(_invite(row, now), totp_secret=secret)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise PortalUserExists(
            f"a portal user with e-mail {address} exists already", details={"email": address}
        ) from None
    return invitation


def invite_again(session: Session, member_id: int, user_id: int, now: int) -> Invitation:
    """A new invitation for the member's user (a forgotten password): its password and
    the previous code stop working; its sessions end (``sessions.signed_in``)."""
    row = user_of(session, member_id, user_id)
    row.password_hash = None
    return _invite(row, now)


def accept_invitation(
    session: Session, email: str, code: str, password: str, now: int
) -> PortalUserRow:
    """Set the password of the user whose invitation ``code`` is (the caller commits)."""
    row = session.scalar(
        select(PortalUserRow).where(PortalUserRow.email == normalized_email(email))
    )
    sent = _hash(code.strip())
    if (
        row is None
        or row.invitation_hash is None
        or not secrets.compare_digest(row.invitation_hash, sent)
        or (row.invitation_expires_at or 0) <= now
        or row.disabled_at is not None
    ):
        raise InvitationRefused("the e-mail or invitation code is not right, or it was used")
    if len(password) < passwords.MIN_PASSWORD_LENGTH:
        raise WeakPassword(
            f"a portal password has at least {passwords.MIN_PASSWORD_LENGTH} characters",
            details={"min_length": passwords.MIN_PASSWORD_LENGTH},
        )
    row.password_hash = passwords.hash_password(password)
    row.invitation_hash = row.invitation_expires_at = None
    return row


def users_of(session: Session, member_id: int) -> list[PortalUserRow]:
    query = select(PortalUserRow).where(PortalUserRow.member_id == member_id)
    return list(session.scalars(query.order_by(PortalUserRow.id)))


def user_of(session: Session, member_id: int, user_id: int) -> PortalUserRow:
    """The member's user ``user_id``; another member's user is not found, as none is."""
    row = session.get(PortalUserRow, user_id)
    if row is None or row.member_id != member_id:
        raise PortalUserNotFound(
            f"member {member_id} has no portal user {user_id}", details={"user_id": user_id}
        )
    return row


def disable_user(session: Session, member_id: int, user_id: int, now: int) -> PortalUserRow:
    """Disable the user (kept, for the audit log): its sessions end at their next request."""
    row = user_of(session, member_id, user_id)
    if row.disabled_at is None:
        row.disabled_at = now
    return row


def check_sign_in(
    session: Session, email: str, password: str, code: str, vault: DocumentVault | None
) -> PortalUserRow:
    """The user these credentials name, or ``SignInRefused`` (``vault``: the node's data
    key, which opens TOTP secrets)."""
    row = session.scalar(
        select(PortalUserRow).where(PortalUserRow.email == normalized_email(email))
    )
    stored = row.password_hash if row is not None else None
    if row is None or stored is None or not passwords.verify_password(stored, password):
        if stored is None:
            passwords.verify_password(None, password)  # a miss costs what a wrong one does
        raise SignInRefused("the e-mail, password or code is not right")
    if row.disabled_at is not None:
        raise SignInRefused("the e-mail, password or code is not right")
    if row.totp_secret is not None:
        secret = open_totp_secret(vault, row)
        if secret is None or not totp.verify_code(secret, code.strip()):
            raise SignInRefused("the e-mail, password or code is not right")
    if passwords.needs_rehash(stored):
        row.password_hash = passwords.hash_password(password)
    return row
