"""Applications to join the consortium: the one route that needs no API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.idempotency.posts import AnonymousPost
from api.readmodel.models import ApplicationRow, MemberRow
from api.readmodel.paging import fetch_page
from api.routes.governance import CommitteeDep, OnboardingDep
from api.schemas.common import CanonicalInt, Offset, PathId
from api.schemas.governance import (
    ApplicationCreate,
    ApplicationCreated,
    ApplicationList,
    ApplicationPublic,
)
from api.services.api_keys import AuthenticationError, authenticate, hash_key
from api.services.container import services_of
from api.services.governance import STATE_NAMES, Committee, NotAGovernor
from api.services.visibility import NotFound
from api.settings import Settings, get_settings
from api.wire import utc_datetime
from chain.governance import ProposalState
from chain.roles import role_names

router = APIRouter(
    prefix="/v1/members/applications",
    tags=["members"],
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)

_bearer = HTTPBearer(auto_error=False, description="the applicant's or a governor's API key")
_TOKEN_SPENT = "application_token_spent"  # in request.state: counted once per request


def limit_applications(
    request: Request, settings: Annotated[Settings, Depends(get_settings)]
) -> None:
    """Spend a token of the client address's bucket (429 with Retry-After when empty). It
    runs before the body is read, so malformed requests count too; once per request, so a
    request the idempotency middleware admitted already is not counted twice."""
    if getattr(request.state, _TOKEN_SPENT, False):
        return
    setattr(request.state, _TOKEN_SPENT, True)
    limiter = services_of(request.app).application_limiter
    client = request.client.host if request.client else "unknown"
    limiter.take(
        client,
        burst=settings.application_burst,
        per_second=settings.application_refill_per_minute / 60,
    )


def admit_application(request: Request) -> None:
    """The rate limit, for the idempotency middleware: it answers replays without the
    route, and they count too."""
    provider = request.app.dependency_overrides.get(get_settings, get_settings)
    limit_applications(request, provider())


# An Idempotency-Key here is scoped to the key itself and the answer, which carries the
# applicant's API key, is kept sealed under it (api/idempotency/).
IDEMPOTENT_APPLICATIONS = AnonymousPost(path=router.prefix, admit=admit_application)


def to_public(row: ApplicationRow, state: ProposalState | None) -> ApplicationPublic:
    return ApplicationPublic(
        id=row.id,
        name=row.name,
        credit_code=row.credit_code,
        credit_code_hash=row.credit_code_hash,
        roles=role_names(row.roles),
        contact=row.contact,
        account=row.account,
        certificate_fingerprint=row.certificate_fingerprint,
        proposal_id=row.proposal_id,
        proposal_state=None if state is None else STATE_NAMES[state],
        status=row.status,  # type: ignore[arg-type]
        member_id=row.member_id,
        created_at=utc_datetime(row.created_at),
    )


@router.post(
    "",
    response_model=ApplicationCreated,
    status_code=201,
    dependencies=[Depends(limit_applications)],
    responses={422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
)
def create_application(
    body: ApplicationCreate, request: Request, session: SessionDep, onboarding: OnboardingDep
) -> ApplicationCreated:
    """Apply to join. The node creates the applicant's signing key (custodial), its
    certificate when the node runs a CA, and the admission proposal; the answer carries an
    API key, shown once, that answers 403 ``application_pending`` until the committee
    admits the member and works from then on.

    The proposer's vote counts For on creation. Where the node's governor would carry the
    admission alone (admin mode), an anonymous request must not admit itself: no proposal
    is made (``proposal_id`` null) until a governor sponsors the application with
    ``POST /v1/governance/proposals {"kind": "admit_member", "application_id": ...}``.
    With a committee, the proposal is made at once and the other governors decide.
    """
    submitted = onboarding.apply(
        session,
        name=body.name,
        credit_code=body.credit_code,
        roles=body.roles,
        contact=body.contact,
        client_address=request.client.host if request.client else "",
    )
    return ApplicationCreated(
        **to_public(submitted.application, submitted.proposal_state).model_dump(),
        api_key=submitted.api_key,
        certificate_pem=submitted.certificate_pem,
    )


@router.get("", response_model=ApplicationList, responses={401: {"model": ErrorResponse}})
def list_applications(
    member: CurrentMember,
    session: SessionDep,
    committee: CommitteeDep,
    status: Annotated[str | None, Query(pattern="^(pending|admitted|rejected)$")] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ApplicationList:
    """Applications, newest first, for governors and auditors (the committee's inbox)."""
    committee.require_reader(session, member)
    query = select(ApplicationRow)
    if status is not None:
        query = query.where(ApplicationRow.status == status)
    rows, total = fetch_page(session, query, ApplicationRow.id.desc(), limit=limit, offset=offset)
    return ApplicationList(
        items=[to_public(r, None) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{application_id}", response_model=ApplicationPublic)
def read_application(
    application_id: PathId,
    session: SessionDep,
    committee: CommitteeDep,
    onboarding: OnboardingDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApplicationPublic:
    """An application and its admission proposal's state, to the applicant (with the key
    the application returned, before and after admission), governors and auditors."""
    if credentials is None:
        raise AuthenticationError("send the API key as `Authorization: Bearer <key>`")
    row = session.get(ApplicationRow, application_id)
    if row is None or row.api_key_hash != hash_key(credentials.credentials):
        member = authenticate(session, credentials.credentials)
        if row is None or not _committee_reads(committee, session, member):
            raise NotFound("application", application_id)
    return to_public(row, onboarding.refresh(session, row))


def _committee_reads(committee: Committee, session: Session, member: MemberRow) -> bool:
    try:
        committee.require_reader(session, member)
    except NotAGovernor:
        return False
    return True
