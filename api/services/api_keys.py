"""API keys: random, shown once, stored only as SHA-256, bound to one member, revocable.

Keys carry 256 bits of randomness, so an unsalted SHA-256 is enough to make a
stolen database useless for authentication (as GitHub's tokens do).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.readmodel.models import ApiKeyRow, ApplicationRow, MemberAccountRow, MemberRow
from chain.errors import ScfError

KEY_PREFIX = "scf_"


class AuthenticationError(ScfError):
    code = "unauthenticated"
    http_status = 401


class ForbiddenError(ScfError):
    code = "forbidden"
    http_status = 403


class ApplicationPending(ForbiddenError):
    code = "application_pending"


class ApplicationRejected(ForbiddenError):
    code = "application_rejected"


@dataclass(frozen=True)
class IssuedKey:
    key: str  # the secret, only ever returned here
    prefix: str
    member_id: int


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(session: Session, member_id: int, label: str = "") -> IssuedKey:
    """Create a key for ``member_id``; the caller commits and shows the key once."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiKeyRow(
            key_hash=hash_key(key),
            prefix=key[:12],
            member_id=member_id,
            label=label,
            created_at=int(time.time()),
        )
    )
    return IssuedKey(key=key, prefix=key[:12], member_id=member_id)


def revoke_key(session: Session, member_id: int, prefix: str) -> int:
    """Revoke the member's keys starting with ``prefix``; return how many."""
    rows = session.scalars(
        select(ApiKeyRow).where(
            ApiKeyRow.member_id == member_id,
            ApiKeyRow.prefix == prefix,
            ApiKeyRow.revoked_at.is_(None),
        )
    ).all()
    for row in rows:
        row.revoked_at = int(time.time())
    return len(rows)


# built once, the key's hash bound per request
_KEY_AND_MEMBER = (
    select(ApiKeyRow, MemberRow)
    .outerjoin(MemberRow, MemberRow.id == ApiKeyRow.member_id)
    .where(ApiKeyRow.key_hash == bindparam("key_hash"))
)


def authenticate(session: Session, key: str, *, allow_suspended: bool = False) -> MemberRow:
    """The member a key belongs to; a wrong or revoked key is refused alike (401).

    An applicant's key (see ``api.services.onboarding``) is refused with 403
    ``application_pending`` / ``application_rejected`` until its member exists in the read
    model with the application's credit code and account; then it becomes a member key.
    """
    key_hash = hash_key(key)
    # the key and its member in one statement: every authenticated request runs this
    found = session.execute(_KEY_AND_MEMBER, {"key_hash": key_hash}).first()
    if found is None:
        row = _promote_application_key(session, key, key_hash)
        member = session.get(MemberRow, row.member_id)
    else:
        row, member = found
    return _usable(row, member, allow_suspended=allow_suspended)


def authenticate_hash(
    session: Session, key_hash: str, *, allow_suspended: bool = False
) -> MemberRow:
    """The member of the key whose SHA-256 is ``key_hash``, under the rules of
    ``authenticate``: for a request kept and run later (``?wait=false``), whose key was
    checked (an applicant's promoted) when it arrived and may be revoked by now."""
    found = session.execute(_KEY_AND_MEMBER, {"key_hash": key_hash}).first()
    if found is None:
        raise AuthenticationError("the API key is not valid")
    row, member = found
    return _usable(row, member, allow_suspended=allow_suspended)


def _usable(row: ApiKeyRow, member: MemberRow | None, *, allow_suspended: bool) -> MemberRow:
    if row.revoked_at is not None:
        raise AuthenticationError("the API key is not valid")
    if member is None:
        raise AuthenticationError("the API key's member is not (yet) a consortium member")
    require_status(member, allow_suspended=allow_suspended)
    return member


def require_status(member: MemberRow, *, allow_suspended: bool) -> None:
    """403 for a member that is not active (suspended members pass where ``allow_suspended``:
    on the routes of money owed, see ``api.authentication.serves_money_owed``)."""
    if member.status == "active" or (allow_suspended and member.status == "suspended"):
        return
    raise ForbiddenError(f"member {member.id} is {member.status}", details={"member_id": member.id})


def _promote_application_key(session: Session, key: str, key_hash: str) -> ApiKeyRow:
    application = session.scalar(
        select(ApplicationRow).where(ApplicationRow.api_key_hash == key_hash)
    )
    if application is None:
        raise AuthenticationError("the API key is not valid")
    details = {"application_id": application.id, "proposal_id": application.proposal_id}
    if application.status == "rejected":
        raise ApplicationRejected(f"application {application.id} was not admitted", details=details)
    member = session.scalar(
        select(MemberRow)
        .join(MemberAccountRow, MemberAccountRow.member_id == MemberRow.id)
        .where(
            MemberAccountRow.address == application.account,
            MemberRow.credit_code_hash == application.credit_code_hash,
        )
    )
    if member is None:
        raise ApplicationPending(
            f"application {application.id} awaits the committee's decision", details=details
        )
    row = ApiKeyRow(
        key_hash=key_hash,
        prefix=key[:12],
        member_id=member.id,
        label=f"application {application.id}",
        created_at=int(time.time()),
    )
    application.status, application.member_id = "admitted", member.id
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # a concurrent request promoted it first
        session.rollback()
        promoted = session.get(ApiKeyRow, key_hash)
        if promoted is None:
            raise
        return promoted
    return row
