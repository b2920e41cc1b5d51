"""Committee work: proposals, votes, execution and revocation, for governor members.

Governors (members whose signing account on this node is a governor) read and act;
auditors read; everyone else gets 403. Admission proposals come from applications:
``kind: admit_member`` sponsors an application that waits for a governor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session
from web3.types import TxReceipt

from api.deps import (
    ConsortiumDep,
    CurrentMember,
    GovernanceWriteDep,
    ServicesDep,
    SessionDep,
    WriterDep,
)
from api.errors import ErrorResponse
from api.schemas.common import CanonicalInt, Offset, PathId
from api.schemas.governance import (
    AdmitMemberProposal,
    CommitteeGovernor,
    CommitteePublic,
    ExecutionError,
    ProposalAction,
    ProposalCreate,
    ProposalList,
    ProposalPublic,
    ProposalVote,
    VoteCreate,
)
from api.services.governance import (
    STATE_NAMES,
    Committee,
    Proposal,
    member_ids_of,
)
from api.services.onboarding import Onboarding
from chain.governance import VoteType

router = APIRouter(
    prefix="/v1/governance/proposals",
    tags=["governance"],
    responses={
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
    },
)

# GET /v1/governance/committee (beside the proposals, under the same rules)
committee_router = APIRouter(
    prefix="/v1/governance",
    tags=["governance"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


async def get_committee(services: ServicesDep, consortium: ConsortiumDep) -> Committee:
    """The app's committee service (built with it: it indexes every contract function
    once); there is one wherever there is a consortium."""
    assert services.committee is not None, "create_app builds it with the consortium"
    return services.committee


async def get_onboarding(
    services: ServicesDep, consortium: ConsortiumDep, writer: WriterDep
) -> Onboarding:
    """Onboarding proposes, so it needs the writer; the CA is optional (no certificates)."""
    return Onboarding(consortium, writer, services.certificate_authority)


CommitteeDep = Annotated[Committee, Depends(get_committee)]
OnboardingDep = Annotated[Onboarding, Depends(get_onboarding)]


def to_public(
    session: Session, proposal: Proposal, receipt: TxReceipt | None = None, *, committee: Committee
) -> ProposalPublic:
    members = member_ids_of(session, [proposal.proposer, *(v.governor for v in proposal.votes)])
    failure = None if receipt is None else committee.execution_error(receipt)
    return ProposalPublic(
        id=proposal.id,
        kind=proposal.kind,
        description=proposal.description,
        proposer=proposal.proposer,
        proposer_member_id=members.get(proposal.proposer.lower()),
        state=STATE_NAMES[proposal.state],
        created_at=proposal.created_at,
        deadline=proposal.deadline,
        executable_until=proposal.executable_until,
        for_weight=proposal.for_weight,
        against_weight=proposal.against_weight,
        total_weight=proposal.total_weight,
        actions=[
            ProposalAction(contract=a.contract, function=a.function, args=a.args)
            for a in proposal.actions
        ],
        votes=[
            ProposalVote(
                governor=v.governor,
                member_id=members.get(v.governor.lower()),
                support="for" if v.support is VoteType.FOR else "against",
                weight=v.weight,
            )
            for v in proposal.votes
        ],
        execution_error=None
        if failure is None
        else ExecutionError(error=failure.error_name, args=failure.details["args"]),
    )


@router.get("", response_model=ProposalList)
def list_proposals(
    member: CurrentMember,
    session: SessionDep,
    committee: CommitteeDep,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> ProposalList:
    """Every proposal, newest first, with its state, decoded actions and votes."""
    committee.require_reader(session, member)
    proposals, total = committee.page(limit, offset)
    items = [to_public(session, p, committee=committee) for p in proposals]
    return ProposalList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{proposal_id}", response_model=ProposalPublic)
def read_proposal(
    proposal_id: PathId, member: CurrentMember, session: SessionDep, committee: CommitteeDep
) -> ProposalPublic:
    committee.require_reader(session, member)
    return to_public(session, committee.proposal(proposal_id), committee=committee)


@router.post(
    "", response_model=ProposalPublic, status_code=201, responses={409: {"model": ErrorResponse}}
)
def create_proposal(
    body: ProposalCreate,
    write: GovernanceWriteDep,
    committee: CommitteeDep,
    onboarding: OnboardingDep,
) -> ProposalPublic:
    """Propose an action to the committee; the proposer's vote counts For at once, so in
    admin mode (one governor holding the weight needed) it executes in this request."""
    committee.require_governor(write.session, write.member)
    if isinstance(body, AdmitMemberProposal):
        receipt = onboarding.sponsor(write, body.application_id, body.description)
    else:
        fields = body.model_dump(exclude={"kind", "description"})
        calls, default_description = committee.calls_for(body.kind, **fields)
        receipt = committee.propose(write, calls, body.description or default_description)
    proposal = committee.proposal(committee.proposal_id_of(receipt))
    return to_public(write.session, proposal, receipt, committee=committee)


@router.post(
    "/{proposal_id}/votes",
    response_model=ProposalPublic,
    status_code=201,
    responses={409: {"model": ErrorResponse}},
)
def vote_on_proposal(
    proposal_id: PathId,
    body: VoteCreate,
    write: GovernanceWriteDep,
    committee: CommitteeDep,
    onboarding: OnboardingDep,
) -> ProposalPublic:
    """Vote for or against a pending proposal (or change one's vote); the vote that
    reaches the thresholds executes the proposal in this request."""
    receipt = committee.vote(write, proposal_id, body.support)
    onboarding.refresh_for_proposal(write.session, proposal_id)
    return to_public(write.session, committee.proposal(proposal_id), receipt, committee=committee)


@router.post(
    "/{proposal_id}/execute",
    response_model=ProposalPublic,
    responses={409: {"model": ErrorResponse}},
)
def execute_proposal(
    proposal_id: PathId,
    write: GovernanceWriteDep,
    committee: CommitteeDep,
    onboarding: OnboardingDep,
) -> ProposalPublic:
    """Retry an approved proposal whose execution failed, once its cause is fixed."""
    committee.execute(write, proposal_id)
    onboarding.refresh_for_proposal(write.session, proposal_id)
    return to_public(write.session, committee.proposal(proposal_id), committee=committee)


@router.post(
    "/{proposal_id}/retally",
    response_model=ProposalPublic,
    responses={409: {"model": ErrorResponse}},
)
def retally_proposal(
    proposal_id: PathId,
    write: GovernanceWriteDep,
    committee: CommitteeDep,
    onboarding: OnboardingDep,
) -> ProposalPublic:
    """Count a pending proposal again with the committee's current weights and thresholds,
    for one that a change of the committee decided while nobody is left to vote on it; it is
    approved (and executed), rejected, or stays pending."""
    receipt = committee.retally(write, proposal_id)
    onboarding.refresh_for_proposal(write.session, proposal_id)
    return to_public(write.session, committee.proposal(proposal_id), receipt, committee=committee)


@router.post(
    "/{proposal_id}/revoke",
    response_model=ProposalPublic,
    responses={409: {"model": ErrorResponse}},
)
def revoke_proposal(
    proposal_id: PathId,
    write: GovernanceWriteDep,
    committee: CommitteeDep,
    onboarding: OnboardingDep,
) -> ProposalPublic:
    """Withdraw a pending proposal; only its proposer may."""
    committee.revoke(write, proposal_id)
    onboarding.refresh_for_proposal(write.session, proposal_id)
    return to_public(write.session, committee.proposal(proposal_id), committee=committee)


@committee_router.get("/committee", response_model=CommitteePublic)
def read_committee(
    member: CurrentMember, session: SessionDep, committee: CommitteeDep
) -> CommitteePublic:
    """The governors and their weights, the decision thresholds and the voting period in
    force (proposals of kind ``set_governor``, ``set_thresholds`` and ``set_voting_period``
    change them); governors and auditors only."""
    committee.require_reader(session, member)
    settings = committee.settings()
    accounts = [account for account, _ in settings["governors"]]
    members = member_ids_of(session, accounts)
    governors = [
        CommitteeGovernor(account=a, member_id=members.get(a.lower()), weight=w)
        for a, w in settings["governors"]
    ]
    return CommitteePublic(**(settings | {"governors": governors}))
