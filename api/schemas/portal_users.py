"""Portal users (the member portal's people, ``api.portal``) as their member's API key
holder invites, lists and disables them through ``/v1/portal/users``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import MAX_ID, UtcDateTime


class Role(StrEnum):
    """A user's role inside its member. Viewers read; operators (经办) and approvers (复核)
    also act. Under maker-checker (a member's switch) a money-moving action prepared by
    either waits until an approver other than its maker confirms it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"

    @property
    def may_act(self) -> bool:
        return self is not Role.VIEWER


EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class PortalUserCreate(BaseModel):
    # no password: the person sets it with the invitation code; a client that sends one
    # is told, not ignored
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL)]
    role: Role
    totp: bool = Field(default=False, description="set up a TOTP second factor")


class PortalUserPublic(BaseModel):
    id: int
    member_id: int
    name: str
    email: str
    role: Role
    totp: bool = Field(description="signs in with a TOTP code as well")
    invited: bool = Field(description="has not yet set its password with its invitation code")
    disabled: bool


class PortalInvitation(PortalUserPublic):
    invitation_code: str = Field(
        description="one-time code with which the user sets its password at "
        "/portal/welcome; shown only in this answer"
    )
    invitation_expires_at: UtcDateTime
    totp_uri: str | None = Field(
        default=None, description="otpauth:// URI for an authenticator app; shown only once"
    )


class PortalUserList(BaseModel):
    items: list[PortalUserPublic]


class PortalInvitationCreate(BaseModel):
    user_id: Annotated[int, Field(ge=1, le=MAX_ID)]


class MakerCheckerSetting(BaseModel):
    """Whether the member's portal users' money-moving actions wait for an approver."""

    enabled: bool
    changed_at: UtcDateTime | None = Field(default=None, description="when it was last switched")
    changed_by: str | None = Field(
        default=None, description='"api_key", or "user:<id>" for a portal approver'
    )


class MakerCheckerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
