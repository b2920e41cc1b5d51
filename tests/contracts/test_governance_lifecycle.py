"""ConsortiumGovernance (issue 21 item 3): failed approvals expire after an execution window,
and a pending proposal that a change of the committee decided can be settled by `retally`."""

from __future__ import annotations

from chain.deploy import DAY
from chain.governance import ProposalState, VoteType
from chain.ledger import Ledger
from tests.contracts.committee import Committee, MakeCommittee, admit_args, event_names
from tests.helpers import new_signer, now, reverts

VIEW_EXECUTABLE_UNTIL = 11  # index of `executableUntil` in ProposalView


def _failed_approval(committee: Committee) -> int:
    """A proposal approved by governors 0 and 1 whose execution failed (no member 1 yet)."""
    proposal_id, _ = committee.propose(0, [(committee.members, "suspendMember", (1,))])
    committee.vote(1, proposal_id, VoteType.FOR)
    assert committee.state(proposal_id) is ProposalState.APPROVED
    return proposal_id


def test_a_failed_approval_is_executable_only_within_its_window(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    committee = make_committee(weights=(1, 1, 1), period=3 * DAY)
    gov = committee.governance
    proposal_id = _failed_approval(committee)
    approved_at = now(ledger)
    view = gov.call("getProposal", proposal_id)
    assert view[VIEW_EXECUTABLE_UNTIL] == approved_at + 3 * DAY

    ledger.increase_time(3 * DAY - 60)
    assert committee.state(proposal_id) is ProposalState.APPROVED

    ledger.increase_time(120)
    assert committee.state(proposal_id) is ProposalState.EXPIRED
    assert gov.call("getProposal", proposal_id)[7] == ProposalState.EXPIRED
    with reverts("GovernanceProposalNotApproved", proposal_id, ProposalState.EXPIRED):
        gov.transact(committee.governors[2], "execute", proposal_id)


def test_a_lone_governor_cannot_execute_a_months_old_approval(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    committee = make_committee(weights=(1, 1, 1), period=DAY)
    gov = committee.governance
    proposal_id = _failed_approval(committee)
    # the cause is fixed months later: member 1 exists now
    ledger.increase_time(90 * DAY)
    admit = (committee.members, "admitMember", admit_args(new_signer(ledger).address))
    admit_id, _ = committee.propose(0, [admit])
    committee.vote(1, admit_id, VoteType.FOR)
    assert committee.state(admit_id) is ProposalState.EXECUTED

    with reverts("GovernanceProposalNotApproved", proposal_id, ProposalState.EXPIRED):
        gov.transact(committee.governors[2], "execute", proposal_id)
    assert committee.members.call("getMember", 1)[4] == 1  # still Active: nothing executed


def test_an_executed_or_pending_proposal_has_no_execution_window(
    make_committee: MakeCommittee,
) -> None:
    committee = make_committee(weights=(1, 1, 1))
    pending_id, _ = committee.propose(0, [committee.set_parameter(1)])
    assert committee.governance.call("getProposal", pending_id)[VIEW_EXECUTABLE_UNTIL] == 0
    committee.vote(1, pending_id, VoteType.FOR)
    assert committee.state(pending_id) is ProposalState.EXECUTED  # never reads Expired


def test_retally_approves_a_proposal_the_removal_of_a_governor_decided(
    make_committee: MakeCommittee,
) -> None:
    """All three must vote; two voted For, the third left the committee: no vote is left to
    cast, and the two are now everyone."""
    committee = make_committee(weights=(1, 1, 1), participation=100, win=51)
    gov = committee.governance
    stuck_id, _ = committee.propose(0, [committee.set_parameter(7)])
    committee.vote(1, stuck_id, VoteType.FOR)
    leaving = committee.governors[2].address
    removal_id, _ = committee.propose(0, [(gov, "setGovernor", (leaving, 0))])
    committee.vote(1, removal_id, VoteType.FOR)
    committee.vote(2, removal_id, VoteType.FOR)
    assert committee.state(removal_id) is ProposalState.EXECUTED
    assert committee.state(stuck_id) is ProposalState.PENDING
    with reverts("GovernanceAlreadyVoted"):
        committee.vote(1, stuck_id, VoteType.FOR)

    receipt = gov.transact(committee.governors[1], "retally", stuck_id)

    assert gov.event_args(receipt, "ProposalRetallied") == {
        "proposalId": stuck_id,
        "forWeight": 2,
        "againstWeight": 0,
        "totalWeight": 2,
    }
    assert event_names(gov, receipt) == [
        "ProposalRetallied",
        "ProposalApproved",
        "ParameterSet",
        "ProposalExecuted",
    ]
    assert committee.state(stuck_id) is ProposalState.EXECUTED
    assert committee.parameter() == 7


def test_retally_rejects_a_proposal_new_thresholds_put_out_of_reach(
    make_committee: MakeCommittee,
) -> None:
    committee = make_committee(weights=(1, 1, 1), participation=51, win=51)
    gov = committee.governance
    doomed_id, _ = committee.propose(0, [committee.set_parameter(7)])
    committee.vote(1, doomed_id, VoteType.AGAINST)  # 1 for, 1 against: still open at 51 %
    assert committee.state(doomed_id) is ProposalState.PENDING
    unanimity_id, _ = committee.propose(0, [(gov, "setThresholds", (51, 100))])
    committee.vote(2, unanimity_id, VoteType.FOR)
    assert committee.state(unanimity_id) is ProposalState.EXECUTED

    receipt = gov.transact(committee.governors[0], "retally", doomed_id)

    assert event_names(gov, receipt) == ["ProposalRetallied", "ProposalRejected"]
    assert committee.state(doomed_id) is ProposalState.REJECTED
    assert committee.parameter() == 0


def test_retally_leaves_an_undecided_proposal_pending(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(1, 1, 1))
    gov = committee.governance
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])
    receipt = gov.transact(committee.governors[2], "retally", proposal_id)
    assert event_names(gov, receipt) == ["ProposalRetallied"]
    assert committee.state(proposal_id) is ProposalState.PENDING


def test_retally_is_refused_to_outsiders_and_for_settled_or_unknown_proposals(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    committee = make_committee(weights=(1, 1, 1), period=DAY)
    gov = committee.governance
    outsider = new_signer(ledger)
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])
    with reverts("GovernanceUnauthorizedAccount", outsider.address):
        gov.transact(outsider, "retally", proposal_id)
    with reverts("GovernanceProposalNotFound", 99):
        gov.transact(committee.governors[0], "retally", 99)
    committee.vote(1, proposal_id, VoteType.FOR)
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.EXECUTED):
        gov.transact(committee.governors[0], "retally", proposal_id)
    late_id, _ = committee.propose(0, [committee.set_parameter(2)])
    ledger.increase_time(DAY + 60)
    with reverts("GovernanceProposalNotPending", late_id, ProposalState.EXPIRED):
        gov.transact(committee.governors[0], "retally", late_id)
