"""ConsortiumGovernance: execution of approved proposals, pause, parameters, authorization."""

from __future__ import annotations

from typing import Any

import pytest
from web3.types import TxParams

from chain.accounts import Signer
from chain.deploy import DAY, Consortium
from chain.errors import ContractRevert
from chain.governance import ProposalState, VoteType, proposal_state, propose
from chain.ledger import Ledger
from tests.contracts.committee import (
    KEY,
    MakeCommittee,
    admit_args,
    error_data,
    event_names,
    execution_failure,
)
from tests.helpers import new_signer, reverts

# ---- execution ----------------------------------------------------------------------------


def test_failed_execution_stays_approved_and_execute_retries_after_the_fix(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    committee = make_committee(weights=(1, 1, 1))
    gov, members = committee.governance, committee.members
    # setParameter succeeds, then suspending member 1 fails: there is no member yet
    proposal_id, _ = committee.propose(
        0, [committee.set_parameter(3), (members, "suspendMember", (1,))]
    )
    receipt = committee.vote(1, proposal_id, VoteType.FOR)

    assert event_names(gov, receipt) == ["VoteCast", "ProposalApproved", "ProposalExecutionFailed"]
    not_found = error_data("MemberNotFound(uint256)", 1)
    with reverts("GovernanceActionFailed", proposal_id, 1, not_found):
        raise execution_failure(gov, receipt)
    assert committee.state(proposal_id) is ProposalState.APPROVED
    assert committee.parameter() == 0  # all actions or none
    with reverts("GovernanceProposalNotPending", proposal_id, ProposalState.APPROVED):
        committee.vote(2, proposal_id, VoteType.FOR)
    with reverts("GovernanceActionFailed", proposal_id, 1, not_found):
        gov.transact(committee.governors[2], "execute", proposal_id)

    admit_id, _ = committee.propose(
        0, [(members, "admitMember", admit_args(new_signer(ledger).address))]
    )
    committee.vote(1, admit_id, VoteType.FOR)
    assert committee.state(admit_id) is ProposalState.EXECUTED

    receipt = gov.transact(committee.governors[2], "execute", proposal_id)

    assert event_names(gov, receipt) == ["ParameterSet", "ProposalExecuted"]
    assert [e["event"] for e in members.events(receipt)] == ["MemberSuspended"]
    assert committee.state(proposal_id) is ProposalState.EXECUTED
    assert committee.parameter() == 3
    with reverts("GovernanceProposalNotApproved", proposal_id, ProposalState.EXECUTED):
        gov.transact(committee.governors[0], "execute", proposal_id)


def test_execute_refuses_pending_proposals(make_committee: MakeCommittee) -> None:
    committee = make_committee()
    proposal_id, _ = committee.propose(0, [committee.set_parameter(1)])
    with reverts("GovernanceProposalNotApproved", proposal_id, ProposalState.PENDING):
        committee.governance.transact(committee.governors[1], "execute", proposal_id)


def test_a_vote_without_enough_gas_to_execute_fails_without_spoiling_the_proposal(
    make_committee: MakeCommittee, ledger: Ledger
) -> None:
    """Short of gas, the approving vote reverts (GovernanceInsufficientGas) instead of marking
    the proposal as failed; that is also what lets gas estimation find the gas to execute."""
    committee = make_committee(weights=(1, 1))
    gov = committee.governance
    admit = (committee.members, "admitMember", admit_args(new_signer(ledger).address))
    proposal_id, _ = committee.propose(0, [admit])
    voter = committee.governors[1]
    tx: TxParams = {
        "from": voter.address,
        "to": gov.address,
        "data": gov.encode("vote", proposal_id, int(VoteType.FOR)),
    }
    needed = ledger.estimate_gas(tx)

    with pytest.raises(ContractRevert):
        gov.transact(voter, "vote", proposal_id, int(VoteType.FOR), gas=needed * 9 // 10)
    assert committee.state(proposal_id) is ProposalState.PENDING
    assert gov.call("voteOf", proposal_id, voter.address) == VoteType.NONE

    committee.vote(1, proposal_id, VoteType.FOR)  # estimated gas
    assert committee.state(proposal_id) is ProposalState.EXECUTED
    assert committee.members.call("memberCount") == 1


# ---- pause and parameters ---------------------------------------------------------------------


def test_pause_and_unpause_through_proposals(
    consortium: Consortium, deployer: Signer, ledger: Ledger
) -> None:
    gov, members = consortium.governance, consortium.members
    _, receipt = propose(gov, deployer, [(gov, "pause", ())], "Pause")
    assert gov.call("paused") is True
    assert gov.event_args(receipt, "Paused")["by"] == gov.address

    again_id, receipt = propose(gov, deployer, [(gov, "pause", ())], "Pause twice")
    with reverts("GovernanceActionFailed", again_id, 0, error_data("GovernancePaused()")):
        raise execution_failure(gov, receipt)

    # governance and membership keep working while paused
    admit_id, _ = propose(
        gov, deployer, [(members, "admitMember", admit_args(new_signer(ledger).address))], "Admit"
    )
    assert proposal_state(gov, admit_id) is ProposalState.EXECUTED

    _, receipt = propose(gov, deployer, [(gov, "unpause", ())], "Unpause")
    assert gov.call("paused") is False
    assert gov.event_args(receipt, "Unpaused")["by"] == gov.address

    again_id, receipt = propose(gov, deployer, [(gov, "unpause", ())], "Unpause twice")
    with reverts("GovernanceActionFailed", again_id, 0, error_data("GovernanceNotPaused()")):
        raise execution_failure(gov, receipt)


@pytest.mark.parametrize(
    ("function", "args", "inner"),
    [
        (
            "setThresholds",
            (0, 50),
            error_data("GovernanceInvalidThresholds(uint256,uint256)", 0, 50),
        ),
        (
            "setThresholds",
            (50, 101),
            error_data("GovernanceInvalidThresholds(uint256,uint256)", 50, 101),
        ),
        ("setVotingPeriod", (0,), error_data("GovernanceInvalidVotingPeriod(uint256)", 0)),
        (
            "setParameter",
            (b"\0" * 32, 1),
            error_data("GovernanceInvalidParameter(bytes32)", b"\0" * 32),
        ),
    ],
)
def test_settings_are_validated(
    consortium: Consortium, deployer: Signer, function: str, args: tuple[Any, ...], inner: bytes
) -> None:
    gov = consortium.governance
    proposal_id, receipt = propose(gov, deployer, [(gov, function, args)], "bad setting")
    with reverts("GovernanceActionFailed", proposal_id, 0, inner):
        raise execution_failure(gov, receipt)
    assert proposal_state(gov, proposal_id) is ProposalState.APPROVED


def test_parameters_are_set_and_read(consortium: Consortium, deployer: Signer) -> None:
    gov = consortium.governance
    assert gov.call("parameter", KEY) == 0
    _, receipt = propose(gov, deployer, [(gov, "setParameter", (KEY, 1234))], "set")
    assert gov.event_args(receipt, "ParameterSet") == {"key": KEY, "value": 1234}
    assert gov.call("parameter", KEY) == 1234


# ---- authorization --------------------------------------------------------------------------


SELF_ONLY: list[tuple[str, tuple[Any, ...]]] = [
    ("setGovernor", ("0x" + "11" * 20, 1)),
    ("setThresholds", (60, 60)),
    ("setVotingPeriod", (DAY,)),
    ("setParameter", (KEY, 1)),
    ("pause", ()),
    ("unpause", ()),
    ("executeActions", (1,)),
]


@pytest.mark.parametrize(("function", "args"), SELF_ONLY, ids=[f for f, _ in SELF_ONLY])
@pytest.mark.parametrize("caller", ["governor", "outsider"])
def test_self_only_functions_refuse_every_account(
    consortium: Consortium,
    deployer: Signer,
    ledger: Ledger,
    function: str,
    args: tuple[Any, ...],
    caller: str,
) -> None:
    gov = consortium.governance
    signer = deployer if caller == "governor" else new_signer(ledger)
    with reverts("GovernanceOnlySelf", signer.address):
        gov.transact(signer, function, *args)


def test_only_governors_propose_vote_and_execute(
    consortium: Consortium, deployer: Signer, ledger: Ledger
) -> None:
    gov = consortium.governance
    outsider = new_signer(ledger)
    data = gov.encode("setParameter", KEY, 1)
    with reverts("GovernanceUnauthorizedAccount", outsider.address):
        gov.transact(outsider, "propose", [gov.address], [data], "not a governor")
    with reverts("GovernanceUnauthorizedAccount", outsider.address):
        gov.transact(outsider, "vote", 1, int(VoteType.FOR))
    with reverts("GovernanceUnauthorizedAccount", outsider.address):
        gov.transact(outsider, "execute", 1)
