"""REST for a member's API key holder: invite, list and disable its portal users."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.portal import audit, totp
from api.portal.users import Invitation, create_user, disable_user, invite_again, users_of
from api.readmodel.models import PortalUserRow
from api.schemas.common import PathId
from api.schemas.portal_users import (
    PortalInvitation,
    PortalInvitationCreate,
    PortalUserCreate,
    PortalUserList,
    PortalUserPublic,
    Role,
)
from api.services.container import services_of
from api.wire import utc_datetime

router = APIRouter(
    prefix="/v1/portal/users",
    tags=["portal"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


def to_public(row: PortalUserRow) -> PortalUserPublic:
    return PortalUserPublic(
        id=row.id,
        member_id=row.member_id,
        name=row.name,
        email=row.email,
        role=Role(row.role),
        totp=row.totp_secret is not None,
        invited=row.password_hash is None,
        disabled=row.disabled_at is not None,
    )


def _invitation(invitation: Invitation) -> PortalInvitation:
    row = invitation.user
    uri = None
    if invitation.totp_secret is not None:  # a new user's: shown in this answer only
        uri = totp.provisioning_uri(invitation.totp_secret, row.email)
    return PortalInvitation(
        **to_public(row).model_dump(),
        invitation_code=invitation.code,
        invitation_expires_at=utc_datetime(invitation.expires_at),
        totp_uri=uri,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post(
    "", response_model=PortalInvitation, status_code=201, responses={409: {"model": ErrorResponse}}
)
def create_portal_user(
    body: PortalUserCreate, member: CurrentMember, session: SessionDep, request: Request
) -> PortalInvitation:
    """Invite a user of the caller's member to the portal. Hand the invitation code to the
    person (it is valid for 7 days): they choose their own password with it at
    ``/portal/welcome``. The TOTP URI, if asked for, is also shown only in this answer."""
    invitation = create_user(
        session,
        member.id,
        name=body.name,
        email=body.email,
        role=body.role,
        now=int(time.time()),
        with_totp=body.totp,
        vault=services_of(request.app).document_vault,
    )
    row = invitation.user
    audit.record(
        session,
        member_id=member.id,
        user_id=None,
        action="create_portal_user",
        client=_client(request),
        details={"user_id": row.id, "role": row.role},
    )
    session.commit()
    return _invitation(invitation)


@router.get("", response_model=PortalUserList)
def list_portal_users(member: CurrentMember, session: SessionDep) -> PortalUserList:
    """The caller's member's portal users, by id."""
    return PortalUserList(items=[to_public(r) for r in users_of(session, member.id)])


INVITATIONS = "/invitations"  # a path of its own: its answer is sealed (a secret)


@router.post(
    INVITATIONS, response_model=PortalInvitation, responses={404: {"model": ErrorResponse}}
)
def invite_portal_user_again(
    body: PortalInvitationCreate, member: CurrentMember, session: SessionDep, request: Request
) -> PortalInvitation:
    """A new invitation code for a user who forgot its password: the password and any
    earlier code stop working and its sessions end."""
    invitation = invite_again(session, member.id, body.user_id, int(time.time()))
    audit.record(
        session,
        member_id=member.id,
        user_id=None,
        action="invite_portal_user_again",
        client=_client(request),
        details={"user_id": body.user_id},
    )
    session.commit()
    return _invitation(invitation)


@router.post(
    "/{user_id}/disable", response_model=PortalUserPublic, responses={404: {"model": ErrorResponse}}
)
def disable_portal_user(
    user_id: PathId, member: CurrentMember, session: SessionDep, request: Request
) -> PortalUserPublic:
    """Disable a user: it can no longer sign in, and its open sessions end at once."""
    row = disable_user(session, member.id, user_id, int(time.time()))
    audit.record(
        session,
        member_id=member.id,
        user_id=None,
        action="disable_portal_user",
        client=_client(request),
        details={"user_id": user_id},
    )
    session.commit()
    return to_public(row)
