"""deploy_consortium: the operator is member 1, governance owns everything, committees install."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.backends import open_ledger
from chain.credit_code import InvalidCreditCode, credit_code_hash
from chain.deploy import CommitteeSpec, Consortium, MemberSpec, deploy_consortium
from chain.governance import ProposalState, VoteType, propose, vote
from chain.ledger import Ledger
from chain.roles import Role
from tests.helpers import new_credit_code, new_signer, reverts


@pytest.fixture
def chain() -> Ledger:
    return open_ledger("tester")


def _operator(account: str) -> MemberSpec:
    return MemberSpec("Consortium Operator Ltd", new_credit_code(), [Role.AUDITOR], account)


def test_admin_mode_deployment_admits_the_operator(chain: Ledger) -> None:
    deployer = new_signer(chain)
    spec = _operator(deployer.address)
    consortium = deploy_consortium(chain, deployer, spec)

    members, governance = consortium.members, consortium.governance
    assert members.call("memberOf", deployer.address) == 1
    member = members.call("getMember", 1)
    assert member[1] == spec.name
    assert member[2] == credit_code_hash(spec.credit_code)
    assert members.call("isActiveMember", deployer.address, Role.AUDITOR.id)
    assert not members.call("isActiveMember", deployer.address, Role.SUPPLIER.id)
    assert governance.call("weightOf", deployer.address) == 1
    assert governance.call("totalWeight") == 1
    assert members.call("governance") == governance.address
    assert consortium.nodes.call("governance") == governance.address


def test_registries_refuse_direct_writes_even_from_the_deployer(chain: Ledger) -> None:
    deployer = new_signer(chain)
    consortium = deploy_consortium(chain, deployer, _operator(deployer.address))
    spec = MemberSpec("Rogue Co", new_credit_code(), [Role.SUPPLIER], new_signer(chain).address)
    with reverts("ConsortiumUnauthorizedGovernance", deployer.address):
        consortium.members.transact(deployer, "admitMember", *spec.admit_args())


def test_committee_replaces_the_deployer(chain: Ledger) -> None:
    deployer = new_signer(chain)
    alice, bob, carol = (new_signer(chain) for _ in range(3))
    committee = CommitteeSpec(
        governors=[(alice.address, 2), (bob.address, 1), (carol.address, 1)],
        participation_percent=60,
        win_percent=60,
    )
    consortium = deploy_consortium(chain, deployer, _operator(deployer.address), committee)
    governance = consortium.governance
    assert governance.call("weightOf", deployer.address) == 0
    assert governance.call("totalWeight") == 4
    assert governance.call("participationPercent") == 60
    with reverts("GovernanceUnauthorizedAccount", deployer.address):
        governance.transact(deployer, "propose", [governance.address], [b"\x00"], "x")

    # alice alone (2 of 4) does not carry a proposal; with bob (3 of 4) it executes.
    proposal_id, _ = propose(
        governance, alice, [(governance, "setVotingPeriod", (3600,))], "1h votes"
    )
    assert ProposalState(governance.call("state", proposal_id)) is ProposalState.PENDING
    vote(governance, bob, proposal_id, VoteType.FOR)
    assert ProposalState(governance.call("state", proposal_id)) is ProposalState.EXECUTED
    assert governance.call("votingPeriod") == 3600


def test_invalid_operator_credit_code_stops_before_any_transaction(chain: Ledger) -> None:
    deployer = new_signer(chain)
    start = chain.get_transaction_count(deployer.address)
    bad = MemberSpec("Operator", "91350100M000100Y44", [Role.AUDITOR], deployer.address)
    with pytest.raises(InvalidCreditCode):
        deploy_consortium(chain, deployer, bad)
    assert chain.get_transaction_count(deployer.address) == start


def test_deployment_file_round_trip(chain: Ledger, tmp_path: Path) -> None:
    deployer = new_signer(chain)
    consortium = deploy_consortium(chain, deployer, _operator(deployer.address))
    path = tmp_path / "deployment.json"
    consortium.save(path)
    loaded = Consortium.load(chain, path)
    assert loaded.addresses() == consortium.addresses()
    assert loaded.members.call("memberOf", deployer.address) == 1
