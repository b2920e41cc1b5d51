"""ConsortiumGovernance: construction, proposals, weighted votes, thresholds, expiry,
committee changes.

Most tests deploy their own small committee (tests/contracts/committee.py) so that weights
and thresholds are explicit; the autouse snapshot fixture throws it away afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from chain.accounts import Signer
from chain.contract import deploy_contract
from chain.deploy import DAY, Consortium
from chain.governance import ProposalState, VoteType, proposal_state, propose, vote
from chain.ledger import Ledger
from tests.contracts.committee import (
    EXPLICIT_GAS,
    KEY,
    MAX_GOVERNORS,
    ZERO_ADDRESS,
    MakeCommittee,
    checksummed,
    error_data,
    event_names,
    execution_failure,
)
from tests.helpers import new_signer, reverts

# ---- construction -------------------------------------------------------------------------


def test_constructor_records_the_committee(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(5, 3, 2), participation=60, win=70, period=3 * DAY)
    gov = committee.governance
    addresses = [g.address for g in committee.governors]

    assert checksummed(gov.call("governors")) == addresses
    assert [gov.call("weightOf", a) for a in addresses] == [5, 3, 2]
    assert gov.call("totalWeight") == 10
    assert gov.call("isGovernor", addresses[0]) is True
    assert gov.call("participationPercent") == 60
    assert gov.call("winPercent") == 70
    assert gov.call("votingPeriod") == 3 * DAY
    assert gov.call("paused") is False
    assert gov.call("proposalCount") == 0


@pytest.mark.parametrize(
    ("weights", "participation", "win", "period", "error"),
    [
        ((1, 1), 51, 51, DAY, ("GovernanceGovernorsMismatch", 3, 2)),
        ((), 51, 51, DAY, ("GovernanceNoGovernorsLeft",)),
        ((1, 0, 1), 51, 51, DAY, ("GovernanceInvalidGovernor", 1, 0)),
        ((1, 1, 1), 0, 51, DAY, ("GovernanceInvalidThresholds", 0, 51)),
        ((1, 1, 1), 51, 101, DAY, ("GovernanceInvalidThresholds", 51, 101)),
        ((1, 1, 1), 51, 51, 0, ("GovernanceInvalidVotingPeriod", 0)),
        ((1, 1, 1), 51, 51, 366 * DAY, ("GovernanceInvalidVotingPeriod", 366 * DAY)),
    ],
)
def test_constructor_rejects_bad_configuration(
    ledger: Ledger,
    deployer: Signer,
    weights: tuple[int, ...],
    participation: int,
    win: int,
    period: int,
    error: tuple[Any, ...],
) -> None:
    governors = [new_signer(ledger).address for _ in range(3 if weights else 0)]
    name, *args = error
    if name == "GovernanceInvalidGovernor":
        args = [governors[args[0]], args[1]]
    with reverts(name, *args):
        deploy_contract(
            ledger,
            deployer,
            "ConsortiumGovernance",
            governors,
            list(weights),
            participation,
            win,
            period,
        )


def test_constructor_rejects_duplicate_zero_and_too_many_governors(
    ledger: Ledger, deployer: Signer
) -> None:
    a = new_signer(ledger).address
    with reverts("GovernanceInvalidGovernor", a, 2):
        deploy_contract(ledger, deployer, "ConsortiumGovernance", [a, a], [1, 2], 51, 51, DAY)
    with reverts("GovernanceInvalidGovernor", ZERO_ADDRESS, 1):
        deploy_contract(ledger, deployer, "ConsortiumGovernance", [ZERO_ADDRESS], [1], 51, 51, DAY)
    many = [Signer.create().address for _ in range(MAX_GOVERNORS + 1)]
    with reverts("GovernanceGovernorLimit", MAX_GOVERNORS):
        deploy_contract(
            ledger, deployer, "ConsortiumGovernance", many, [1] * len(many), 51, 51, DAY
        )


# ---- proposing ----------------------------------------------------------------------------


def test_propose_records_the_proposal_and_counts_the_proposer_for(
    make_committee: MakeCommittee,
) -> None:
    committee = make_committee(weights=(1, 1, 1))
    gov = committee.governance
    proposer = committee.governors[0].address

    proposal_id, receipt = committee.propose(
        0, [committee.set_parameter(7)], "Set the minimum split"
    )

    assert proposal_id == 1
    assert event_names(gov, receipt) == ["ProposalCreated", "VoteCast"]
    created = gov.event_args(receipt, "ProposalCreated")
    assert created["proposer"] == proposer
    assert list(created["targets"]) == [gov.address]
    assert created["description"] == "Set the minimum split"
    cast = gov.event_args(receipt, "VoteCast")
    assert (cast["governor"], cast["vote"], cast["weight"]) == (proposer, VoteType.FOR, 1)

    view = gov.call("getProposal", proposal_id)
    (
        id_,
        proposer_,
        description,
        targets,
        datas,
        created_at,
        deadline,
        state,
        for_w,
        against_w,
        total,
        executable_until,
    ) = view
    assert (id_, Web3.to_checksum_address(proposer_), description) == (
        1,
        proposer,
        "Set the minimum split",
    )
    assert checksummed(targets) == [gov.address]
    assert list(datas) == [gov.encode("setParameter", KEY, 7)]
    assert deadline == created_at + DAY == created["deadline"]
    assert (state, for_w, against_w, total) == (ProposalState.PENDING, 1, 0, 3)
    assert executable_until == 0  # set at approval
    assert gov.call("voteOf", proposal_id, proposer) == VoteType.FOR
    assert gov.call("voteOf", proposal_id, committee.governors[1].address) == VoteType.NONE
    assert checksummed(gov.call("votersOf", proposal_id)) == [proposer]
    assert committee.parameter() == 0

    second, _ = committee.propose(1, [committee.set_parameter(8)])
    assert second == 2
    assert gov.call("proposalCount") == 2


@pytest.mark.parametrize(
    ("targets", "datas", "reason"),
    [
        (0, 0, "no actions"),
        (17, 17, "too many actions"),
        (2, 1, "targets and calldatas differ in length"),
    ],
)
def test_propose_rejects_malformed_action_lists(
    make_committee: MakeCommittee, targets: int, datas: int, reason: str
) -> None:
    committee = make_committee()
    gov = committee.governance
    data = gov.encode("setParameter", KEY, 1)
    with reverts("GovernanceInvalidProposal", reason):
        gov.transact(
            committee.governors[0], "propose", [gov.address] * targets, [data] * datas, "bad"
        )


def test_propose_rejects_a_zero_target(make_committee: MakeCommittee) -> None:
    committee = make_committee()
    gov = committee.governance
    data = gov.encode("setParameter", KEY, 1)
    with reverts("GovernanceInvalidProposal", "zero target"):
        gov.transact(
            committee.governors[0], "propose", [gov.address, ZERO_ADDRESS], [data, data], "bad"
        )


def test_admin_mode_executes_a_proposal_on_creation(
    consortium: Consortium, deployer: Signer
) -> None:
    gov = consortium.governance
    proposal_id, receipt = propose(
        gov, deployer, [(gov, "setParameter", (KEY, 500))], "Minimum split 5.00"
    )

    assert event_names(gov, receipt) == [
        "ProposalCreated",
        "VoteCast",
        "ProposalApproved",
        "ParameterSet",
        "ProposalExecuted",
    ]
    assert proposal_state(gov, proposal_id) is ProposalState.EXECUTED
    assert gov.call("parameter", KEY) == 500


# ---- voting and thresholds ------------------------------------------------------------------


def test_proposal_executes_once_participation_and_win_thresholds_are_reached(
    make_committee: MakeCommittee,
) -> None:
    committee = make_committee(weights=(1, 1, 1), participation=51, win=51)
    proposal_id, _ = committee.propose(0, [committee.set_parameter(9)])

    receipt = committee.vote(1, proposal_id, VoteType.FOR)

    assert event_names(committee.governance, receipt) == [
        "VoteCast",
        "ProposalApproved",
        "ParameterSet",
        "ProposalExecuted",
    ]
    assert committee.state(proposal_id) is ProposalState.EXECUTED
    assert committee.parameter() == 9
    view = committee.governance.call("getProposal", proposal_id)
    assert view[8:11] == (2, 0, 3)
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.EXECUTED):
        committee.vote(2, proposal_id, VoteType.FOR)


def test_proposal_waits_until_participation_is_reached(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(1, 1, 1, 1), participation=75, win=51)
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])

    committee.vote(1, proposal_id, VoteType.FOR)  # 2 of 4 voted: 50 % < 75 %
    assert committee.state(proposal_id) is ProposalState.PENDING
    assert committee.parameter() == 0

    committee.vote(2, proposal_id, VoteType.FOR)  # 3 of 4: participation reached
    assert committee.state(proposal_id) is ProposalState.EXECUTED


def test_proposal_waits_until_the_win_threshold_is_reached(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(1, 1, 1, 1), participation=50, win=75)
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])

    committee.vote(1, proposal_id, VoteType.AGAINST)  # participation 50 %, for 1 of 2
    assert committee.state(proposal_id) is ProposalState.PENDING
    committee.vote(2, proposal_id, VoteType.FOR)  # for 2 of 3 = 66 % < 75 %
    assert committee.state(proposal_id) is ProposalState.PENDING
    committee.vote(3, proposal_id, VoteType.FOR)  # for 3 of 4 = 75 %
    assert committee.state(proposal_id) is ProposalState.EXECUTED
    assert committee.parameter() == 1


def test_a_heavy_governor_alone_can_carry_a_proposal(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(6, 2, 2), participation=60, win=60)
    light_id, _ = committee.propose(1, [committee.set_parameter(1)])
    assert committee.state(light_id) is ProposalState.PENDING

    heavy_id, _ = committee.propose(0, [committee.set_parameter(2)])
    assert committee.state(heavy_id) is ProposalState.EXECUTED


def test_proposal_is_rejected_once_it_cannot_be_approved(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(1, 1, 1), participation=51, win=51)
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])

    committee.vote(1, proposal_id, VoteType.AGAINST)  # 1 for, 1 against: still winnable
    assert committee.state(proposal_id) is ProposalState.PENDING

    receipt = committee.vote(2, proposal_id, VoteType.AGAINST)
    assert event_names(committee.governance, receipt) == ["VoteCast", "ProposalRejected"]
    assert committee.state(proposal_id) is ProposalState.REJECTED
    assert committee.parameter() == 0
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.REJECTED):
        committee.vote(1, proposal_id, VoteType.FOR)
    with reverts("GovernanceProposalNotApproved", proposal_id, ProposalState.REJECTED):
        committee.governance.transact(committee.governors[0], "execute", proposal_id)


def test_a_governor_may_change_its_vote_but_not_repeat_it(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(1, 1, 1, 1), participation=50, win=75)
    gov = committee.governance
    second = committee.governors[1].address
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])

    committee.vote(1, proposal_id, VoteType.AGAINST)
    with reverts("GovernanceAlreadyVoted", proposal_id, second, VoteType.AGAINST):
        committee.vote(1, proposal_id, VoteType.AGAINST)
    with reverts(
        "GovernanceAlreadyVoted", proposal_id, committee.governors[0].address, VoteType.FOR
    ):
        committee.vote(0, proposal_id, VoteType.FOR)
    with reverts("GovernanceInvalidVote", VoteType.NONE):
        committee.vote(1, proposal_id, VoteType.NONE)

    receipt = committee.vote(1, proposal_id, VoteType.FOR)  # 2 for of 4: 50 % voted, all for

    cast = gov.event_args(receipt, "VoteCast")
    assert (cast["governor"], cast["vote"]) == (second, VoteType.FOR)
    assert gov.call("voteOf", proposal_id, second) == VoteType.FOR
    assert len(gov.call("votersOf", proposal_id)) == 2
    assert committee.state(proposal_id) is ProposalState.EXECUTED


def test_proposal_expires_after_its_deadline(make_committee: MakeCommittee, ledger: Ledger) -> None:
    committee = make_committee(weights=(1, 1, 1), period=DAY)
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])

    ledger.increase_time(DAY - 60)
    assert committee.state(proposal_id) is ProposalState.PENDING

    ledger.increase_time(120)
    assert committee.state(proposal_id) is ProposalState.EXPIRED
    assert committee.governance.call("getProposal", proposal_id)[7] == ProposalState.EXPIRED
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.EXPIRED):
        committee.vote(1, proposal_id, VoteType.FOR)
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.EXPIRED):
        committee.governance.transact(committee.governors[0], "revoke", proposal_id)
    assert committee.parameter() == 0


def test_proposer_can_revoke_a_pending_proposal(make_committee: MakeCommittee) -> None:
    committee = make_committee()
    gov = committee.governance
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])
    other = committee.governors[1]

    with reverts("GovernanceNotProposer", proposal_id, other.address):
        gov.transact(other, "revoke", proposal_id)

    receipt = gov.transact(committee.governors[0], "revoke", proposal_id)

    assert event_names(gov, receipt) == ["ProposalRevoked"]
    assert committee.state(proposal_id) is ProposalState.REVOKED
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.REVOKED):
        committee.vote(1, proposal_id, VoteType.FOR)
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.REVOKED):
        gov.transact(committee.governors[0], "revoke", proposal_id)


def test_unknown_proposals_are_reported(make_committee: MakeCommittee) -> None:
    committee = make_committee()
    gov = committee.governance
    with reverts("GovernanceProposalNotFound", 0):
        gov.call("state", 0)
    with reverts("GovernanceProposalNotFound", 1):
        gov.call("getProposal", 1)
    with reverts("GovernanceProposalNotFound", 5):
        committee.vote(0, 5, VoteType.FOR)
    with reverts("GovernanceProposalNotFound", 5):
        gov.transact(committee.governors[0], "execute", 5)
    with reverts("GovernanceProposalNotFound", 5):
        gov.transact(committee.governors[0], "revoke", 5)


# ---- changing the committee -----------------------------------------------------------------


def test_governors_and_thresholds_change_through_a_proposal(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    committee = make_committee(weights=(1, 1), participation=100, win=100)
    gov = committee.governance
    newcomer = new_signer(ledger)
    first, second = (g.address for g in committee.governors)
    proposal_id, _ = committee.propose(
        0,
        [
            (gov, "setGovernor", (newcomer.address, 2)),
            (gov, "setGovernor", (second, 3)),
            (gov, "setThresholds", (60, 60)),
            (gov, "setVotingPeriod", (3 * DAY,)),
        ],
    )
    receipt = committee.vote(1, proposal_id, VoteType.FOR)

    assert event_names(gov, receipt)[2:] == [
        "GovernorSet",
        "GovernorSet",
        "ThresholdsSet",
        "VotingPeriodSet",
        "ProposalExecuted",
    ]
    assert checksummed(gov.call("governors")) == [first, second, newcomer.address]
    assert gov.call("weightOf", second) == 3
    assert gov.call("totalWeight") == 6
    assert (gov.call("participationPercent"), gov.call("winPercent")) == (60, 60)
    assert gov.call("votingPeriod") == 3 * DAY

    # the newcomer votes under the new rules: 2 of 6 is not enough, with a weight-1 ally 50 % is
    # not either, the weight-3 governor carries it
    next_id, _ = propose(gov, newcomer, [committee.set_parameter(4)], "newcomer's first")
    view = gov.call("getProposal", next_id)
    assert view[6] - view[5] == 3 * DAY
    committee.vote(0, next_id, VoteType.FOR)
    assert committee.state(next_id) is ProposalState.PENDING
    committee.vote(1, next_id, VoteType.FOR)
    assert committee.state(next_id) is ProposalState.EXECUTED


def test_a_removed_governor_no_longer_counts_in_pending_proposals(
    make_committee: MakeCommittee,
) -> None:
    committee = make_committee(weights=(1, 1, 1, 1), participation=50, win=70)
    gov = committee.governance
    removed = committee.governors[1].address
    pending_id, _ = committee.propose(0, [committee.set_parameter(1)])
    committee.vote(1, pending_id, VoteType.AGAINST)  # 1 for, 1 against of 4

    removal_id, _ = committee.propose(2, [(gov, "setGovernor", (removed, 0))])
    committee.vote(3, removal_id, VoteType.FOR)
    assert committee.state(removal_id) is ProposalState.EXECUTED
    assert gov.call("isGovernor", removed) is False
    assert gov.call("totalWeight") == 3
    with reverts("GovernanceUnauthorizedAccount", removed):
        committee.vote(1, pending_id, VoteType.FOR)

    # with the removed Against counted this would be 2 for / 1 against = 66 % < 70 %
    committee.vote(2, pending_id, VoteType.FOR)
    assert committee.state(pending_id) is ProposalState.EXECUTED
    assert gov.call("getProposal", pending_id)[8:11] == (2, 0, 3)


def test_setting_governors_is_validated(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(1,), participation=100, win=100)
    gov = committee.governance
    only = committee.governors[0].address
    stranger = Signer.create().address
    cases: list[tuple[tuple[Any, ...], bytes]] = [
        ((only, 0), error_data("GovernanceNoGovernorsLeft()")),
        ((stranger, 0), error_data("GovernanceUnknownGovernor(address)", stranger)),
        (
            (ZERO_ADDRESS, 1),
            error_data("GovernanceInvalidGovernor(address,uint256)", ZERO_ADDRESS, 1),
        ),
        (
            (gov.address, 1),
            error_data("GovernanceInvalidGovernor(address,uint256)", gov.address, 1),
        ),
        (
            (stranger, 2**64),
            error_data("GovernanceInvalidGovernor(address,uint256)", stranger, 2**64),
        ),
    ]
    for args, inner in cases:
        proposal_id, receipt = committee.propose(0, [(gov, "setGovernor", args)])
        with reverts("GovernanceActionFailed", proposal_id, 0, inner):
            raise execution_failure(gov, receipt)
    assert checksummed(gov.call("governors")) == [only]


def test_the_committee_is_capped_at_32_governors(make_committee: MakeCommittee) -> None:
    committee = make_committee(weights=(100,) + (1,) * (MAX_GOVERNORS - 1))
    gov = committee.governance
    proposal_id, receipt = committee.propose(
        0, [(gov, "setGovernor", (Signer.create().address, 1))]
    )
    with reverts(
        "GovernanceActionFailed", proposal_id, 0, error_data("GovernanceGovernorLimit(uint256)", 32)
    ):
        raise execution_failure(gov, receipt)
    assert len(gov.call("governors")) == MAX_GOVERNORS


def test_voter_slots_of_former_governors_are_reused(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    """A proposal never records more than 32 voters, however the committee changes under it."""
    committee = make_committee(weights=(1000,) + (1,) * (MAX_GOVERNORS - 1))
    gov = committee.governance
    g = committee.governors
    pending_id, _ = committee.propose(1, [committee.set_parameter(1)])
    for governor in g[2:]:
        gov.transact(governor, "vote", pending_id, int(VoteType.FOR), gas=EXPLICIT_GAS)
    assert len(gov.call("votersOf", pending_id)) == MAX_GOVERNORS - 1

    newcomers = [new_signer(ledger) for _ in range(2)]
    committee.propose(
        0,
        [(gov, "setGovernor", (g[31].address, 0)), (gov, "setGovernor", (newcomers[0].address, 1))],
    )
    vote(gov, newcomers[0], pending_id, VoteType.FOR)
    assert len(gov.call("votersOf", pending_id)) == MAX_GOVERNORS  # full, one of them removed

    committee.propose(
        0,
        [(gov, "setGovernor", (g[30].address, 0)), (gov, "setGovernor", (newcomers[1].address, 1))],
    )
    vote(gov, newcomers[1], pending_id, VoteType.FOR)  # takes the slot of g[30]
    assert committee.state(pending_id) is ProposalState.PENDING
    committee.vote(0, pending_id, VoteType.FOR)  # takes the slot of g[31] and carries it

    voters = checksummed(gov.call("votersOf", pending_id))
    assert len(voters) == MAX_GOVERNORS
    assert g[30].address not in voters
    assert g[31].address not in voters
    assert {newcomers[0].address, newcomers[1].address, g[0].address} <= set(voters)
    assert gov.call("voteOf", pending_id, g[30].address) == VoteType.NONE
    assert committee.state(pending_id) is ProposalState.EXECUTED
