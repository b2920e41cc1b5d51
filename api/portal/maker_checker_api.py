"""REST for a member's API key holder: read and switch maker-checker for its portal users
(an approver may also switch it in the portal). Machine clients are not subject to it."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.portal import audit, maker_checker
from api.readmodel.models import PortalMemberSettingsRow
from api.schemas.portal_users import MakerCheckerSetting, MakerCheckerUpdate
from api.wire import utc_datetime

router = APIRouter(
    prefix="/v1/portal/maker-checker",
    tags=["portal"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


def _setting(row: PortalMemberSettingsRow | None) -> MakerCheckerSetting:
    if row is None:
        return MakerCheckerSetting(enabled=False)
    return MakerCheckerSetting(
        enabled=row.maker_checker,
        changed_at=utc_datetime(row.changed_at),
        changed_by=row.changed_by,
    )


@router.get("", response_model=MakerCheckerSetting)
def read_maker_checker(member: CurrentMember, session: SessionDep) -> MakerCheckerSetting:
    """Whether the caller's member has maker-checker on for its portal users."""
    return _setting(session.get(PortalMemberSettingsRow, member.id))


@router.post("", response_model=MakerCheckerSetting)
def switch_maker_checker(
    body: MakerCheckerUpdate, member: CurrentMember, session: SessionDep, request: Request
) -> MakerCheckerSetting:
    """Switch maker-checker for the caller's member's portal users. Actions already
    prepared stay pending until an approver decides them."""
    maker_checker.switch(session, member.id, body.enabled, "api_key", int(time.time()))
    audit.record(
        session,
        member_id=member.id,
        user_id=None,
        action="switch_maker_checker",
        client=request.client.host if request.client else "",
        details={"enabled": body.enabled},
    )
    session.commit()
    return _setting(session.get(PortalMemberSettingsRow, member.id))
