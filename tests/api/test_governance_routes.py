"""Committee work over HTTP against a weighted committee on the real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from api.services.governance import Committee, ProposalConflict
from chain.contract import ContractHandle, deploy_contract
from chain.deploy import Consortium, implementation_args
from chain.upgrades import code_hash, deploy_implementation, implementation_of
from tests.api.committee import CommitteeNode, committee_node
from tests.api.times import iso_instant
from tests.helpers import DAY

PROPOSALS = "/v1/governance/proposals"
DOC = "0x" + "cd" * 32


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommitteeNode]:
    with committee_node(Path(tmp_path_factory.mktemp("governance"))) as built:
        yield built


def propose(node: CommitteeNode, body: dict[str, Any], who: str = "operator") -> Any:
    return node.post(who, PROPOSALS, body)


def vote(node: CommitteeNode, proposal_id: int, who: str, support: str = "for") -> Any:
    return node.post(who, f"{PROPOSALS}/{proposal_id}/votes", {"support": support})


def passed(node: CommitteeNode, body: dict[str, Any]) -> Any:
    """Proposed by the operator, carried by the bank's vote."""
    decided = vote(node, propose(node, body)["id"], "bank")
    assert decided["state"] == "executed", decided
    return decided


def refused(node: CommitteeNode, who: str, path: str, body: Any, status: int) -> dict[str, Any]:
    response = node.client.post(path, json=body, headers=node.auth(who))
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# ---- reading -----------------------------------------------------------------------------


def test_governors_and_auditors_read_proposals_others_do_not(node: CommitteeNode) -> None:
    count = int(node.world.consortium.governance.call("proposalCount"))
    for who in ("operator", "bank", "regulator"):
        page = node.get(who, f"{PROPOSALS}?limit=2")
        assert page["total"] == count
        assert len(page["items"]) == 2
        assert [p["id"] for p in page["items"]] == [count, count - 1]  # newest first
    oldest = node.get("bank", f"{PROPOSALS}?limit=1&offset={count - 1}")["items"]
    assert [p["id"] for p in oldest] == [1]
    assert oldest[0]["kind"] == "admit_member"
    assert oldest[0]["state"] == "executed"
    assert node.get("bank", f"{PROPOSALS}?offset={count}")["items"] == []
    for who in ("tier1", "core"):
        response = node.client.get(PROPOSALS, headers=node.auth(who))
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_a_governor"
        assert node.client.get(f"{PROPOSALS}/1", headers=node.auth(who)).status_code == 403
    assert node.client.get(PROPOSALS).status_code == 401


def test_an_unknown_proposal_is_404_everywhere(node: CommitteeNode) -> None:
    response = node.client.get(f"{PROPOSALS}/424242", headers=node.auth("bank"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "proposal_not_found"
    for action, body in (("votes", {"support": "for"}), ("execute", None), ("revoke", None)):
        error = refused(node, "bank", f"{PROPOSALS}/424242/{action}", body, 404)
        assert error["code"] == "proposal_not_found"


def test_only_governors_propose_and_vote(node: CommitteeNode) -> None:
    body = {"kind": "pause"}
    for who in ("tier1", "regulator"):  # a supplier; an auditor that is no governor
        assert refused(node, who, PROPOSALS, body, 403)["code"] == "not_a_governor"
    pending = propose(node, {"kind": "set_parameter", "key": "VOTERS_ONLY", "value": 1})
    assert pending["state"] == "pending"
    error = refused(node, "tier1", f"{PROPOSALS}/{pending['id']}/votes", {"support": "for"}, 403)
    assert error["code"] == "not_a_governor"
    error = refused(node, "regulator", f"{PROPOSALS}/{pending['id']}/execute", None, 403)
    assert error["code"] == "not_a_governor"


def test_bad_proposals_are_422(node: CommitteeNode) -> None:
    for body in (
        {"kind": "abolish_the_committee"},
        {"kind": "suspend_member"},
        {"kind": "suspend_member", "member_id": 0},
        {"kind": "add_node", "public_key": "0x" + "11" * 33, "owner_member_id": 1, "endpoint": "x"},
        {"kind": "set_parameter", "key": "lower_case", "value": 1},
        {"kind": "set_parameter", "key": "MIN_SPLIT", "value": -1},
        {"kind": "set_governor", "account": "0x1234", "weight": 1},
        {"kind": "pause", "description": "x" * 501},
    ):
        assert refused(node, "operator", PROPOSALS, body, 422)["code"] == "validation_error"


# ---- members ------------------------------------------------------------------------------


def test_a_member_is_suspended_and_reinstated_by_the_committee(node: CommitteeNode) -> None:
    tier3 = node.world.tier3
    proposal = propose(node, {"kind": "suspend_member", "member_id": tier3.id})
    assert (proposal["kind"], proposal["state"]) == ("suspend_member", "pending")
    assert proposal["description"] == f"Suspend member {tier3.id}"
    assert proposal["actions"] == [
        {"contract": "MemberRegistry", "function": "suspendMember", "args": {"memberId": tier3.id}}
    ]
    assert (proposal["for_weight"], proposal["against_weight"], proposal["total_weight"]) == (
        2,
        0,
        5,
    )
    node.get("tier3", "/v1/members/me")  # not yet: one vote of 2 out of 5 decides nothing

    decided = vote(node, proposal["id"], "bank")
    assert decided["state"] == "executed"
    assert [v["member_id"] for v in decided["votes"]] == [1, node.world.bank.id]
    assert node.get("operator", f"/v1/members/{tier3.id}")["status"] == "suspended"
    me = node.client.get("/v1/members/me", headers=node.auth("tier3"))
    assert me.status_code == 403
    transfer = {"to_member_id": node.world.tier1.id, "amount": "1.00"}
    refused(node, "tier3", "/v1/settlement/transfers", transfer, 403)
    again = refused(
        node, "operator", PROPOSALS, {"kind": "suspend_member", "member_id": tier3.id}, 409
    )
    assert again["code"] == "member_not_active"
    assert again["details"]["status"] == "suspended"

    passed(node, {"kind": "reinstate_member", "member_id": tier3.id})
    assert node.get("tier3", "/v1/members/me")["status"] == "active"
    again = refused(
        node, "operator", PROPOSALS, {"kind": "reinstate_member", "member_id": tier3.id}, 409
    )
    assert again["code"] == "member_not_suspended"
    unknown = refused(
        node, "operator", PROPOSALS, {"kind": "suspend_member", "member_id": 999}, 404
    )
    assert unknown["code"] == "member_not_found"


# ---- votes ---------------------------------------------------------------------------------


def test_a_governor_votes_once_and_never_on_a_decided_proposal(node: CommitteeNode) -> None:
    body = {"kind": "set_parameter", "key": "TEST_LIMIT", "value": 12_345}
    proposal = propose(node, body)
    path = f"{PROPOSALS}/{proposal['id']}/votes"
    twice = refused(node, "operator", path, {"support": "for"}, 409)  # proposing was voting
    assert twice["details"]["error"] == "GovernanceAlreadyVoted"
    abstain = refused(node, "bank", path, {"support": "abstain"}, 422)
    assert abstain["code"] == "abstain_not_recorded"
    assert refused(node, "bank", path, {"support": "maybe"}, 422)["code"] == "validation_error"

    assert vote(node, proposal["id"], "bank")["state"] == "executed"
    governance = node.world.consortium.governance
    assert governance.call("parameter", keccak(text="TEST_LIMIT")) == 12_345
    late = refused(node, "core2", path, {"support": "against"}, 409)
    assert late["details"]["error"] == "GovernanceProposalNotPending"


def test_votes_against_reject_a_proposal(node: CommitteeNode) -> None:
    proposal = propose(node, {"kind": "pause"})
    vote(node, proposal["id"], "bank", "against")
    decided = vote(node, proposal["id"], "core2", "against")
    assert decided["state"] == "rejected"
    assert (decided["for_weight"], decided["against_weight"]) == (2, 3)
    assert node.world.consortium.governance.call("paused") is False


def test_a_proposer_revokes_its_pending_proposal(node: CommitteeNode) -> None:
    proposal = propose(node, {"kind": "set_parameter", "key": "REVOKED_IDEA", "value": 1})
    path = f"{PROPOSALS}/{proposal['id']}/revoke"
    assert refused(node, "bank", path, None, 403)["code"] == "not_proposer"
    revoked = node.post("operator", path, expect=200)
    assert revoked["state"] == "revoked"
    assert refused(node, "operator", path, None, 409)["details"]["error"] == (
        "GovernanceProposalNotPending"
    )
    voted = refused(node, "bank", f"{PROPOSALS}/{proposal['id']}/votes", {"support": "for"}, 409)
    assert voted["details"]["error"] == "GovernanceProposalNotPending"


# ---- nodes, pause, governors -----------------------------------------------------------


def test_nodes_are_added_and_removed_by_the_committee(node: CommitteeNode) -> None:
    public_key = "0x" + "5a" * 64
    node_id = "0x" + keccak(bytes.fromhex("5a" * 64)).hex()
    add = {
        "kind": "add_node",
        "public_key": public_key,
        "owner_member_id": node.world.bank.id,
        "endpoint": "https://validator.bank.example:8545",
    }
    added = passed(node, add)
    assert added["kind"] == "add_node"
    nodes = node.world.consortium.nodes
    assert nodes.call("isNodeAllowed", bytes.fromhex(node_id[2:])) is True
    assert refused(node, "operator", PROPOSALS, add, 409)["code"] == "node_already_registered"
    orphan = {**add, "public_key": "0x" + "6b" * 64, "owner_member_id": 777}
    assert refused(node, "operator", PROPOSALS, orphan, 404)["code"] == "member_not_found"

    passed(node, {"kind": "remove_node", "node_id": node_id})
    assert nodes.call("isNodeAllowed", bytes.fromhex(node_id[2:])) is False
    gone = refused(node, "operator", PROPOSALS, {"kind": "remove_node", "node_id": node_id}, 404)
    assert gone["code"] == "node_not_found"


def test_a_paused_consortium_refuses_business_writes_until_unpaused(node: CommitteeNode) -> None:
    mint = {"to_member_id": node.world.tier1.id, "amount": "10.00", "bank_reference": DOC}
    passed(node, {"kind": "pause"})
    try:
        error = refused(node, "bank", "/v1/settlement/mint", mint, 409)
        assert error["details"]["error"] == "ConsortiumPaused"
        assert refused(node, "operator", PROPOSALS, {"kind": "pause"}, 409)["code"] == (
            "consortium_paused"
        )
    finally:
        passed(node, {"kind": "unpause"})
    node.post("bank", "/v1/settlement/mint", mint)
    assert refused(node, "operator", PROPOSALS, {"kind": "unpause"}, 409)["code"] == (
        "consortium_not_paused"
    )


def test_a_new_governor_reads_and_votes(node: CommitteeNode) -> None:
    bank2 = node.world.bank2.address
    assert node.client.get(PROPOSALS, headers=node.auth("bank2")).status_code == 403
    passed(node, {"kind": "set_governor", "account": bank2, "weight": 1})
    assert node.get("bank2", PROPOSALS)["total"] > 0
    removal = propose(node, {"kind": "set_governor", "account": bank2, "weight": 0})
    assert vote(node, removal["id"], "bank2")["state"] == "pending"  # 2 + 1 of 6: too few
    assert vote(node, removal["id"], "bank")["state"] == "executed"
    assert node.client.get(PROPOSALS, headers=node.auth("bank2")).status_code == 403


# ---- execution -------------------------------------------------------------------------


def test_a_failed_execution_is_reported_and_retried(node: CommitteeNode) -> None:
    tier2 = node.world.tier2.id
    body = {"kind": "suspend_member", "member_id": tier2}
    first = propose(node, body)
    path = f"{PROPOSALS}/{first['id']}/execute"
    not_yet = refused(node, "operator", path, None, 409)
    assert not_yet["details"]["error"] == "GovernanceProposalNotApproved"
    passed(node, body)  # a second proposal suspends tier2 first

    approved = vote(node, first["id"], "bank")
    assert approved["state"] == "approved"
    assert approved["execution_error"]["error"] == "MemberInvalidStatus"
    still = refused(node, "operator", path, None, 409)
    assert still["details"]["error"] == "MemberInvalidStatus"  # the action's own error

    passed(node, {"kind": "reinstate_member", "member_id": tier2})
    executed = node.post("bank", path, expect=200)
    assert executed["state"] == "executed"
    assert node.get("operator", f"/v1/members/{tier2}")["status"] == "suspended"
    passed(node, {"kind": "reinstate_member", "member_id": tier2})


def test_a_financiers_issuance_cap_is_set_by_the_committee(node: CommitteeNode) -> None:
    w = node.world
    bank, path = w.bank.id, f"/v1/settlement/issuance/{w.bank.id}"
    assert node.get("regulator", path)["own_cap"] is False
    decided = passed(node, {"kind": "set_issuance_cap", "member_id": bank, "cap": "5000.00"})
    assert decided["kind"] == "set_issuance_cap"
    assert decided["actions"] == [
        {
            "contract": "SettlementToken",
            "function": "setIssuanceCap",
            "args": {"financierId": bank, "cap": 5000_00},
        }
    ]
    for who in ("regulator", "bank", "core2"):  # auditor, the financier itself, a governor
        shown = node.get(who, path)
        assert (shown["cap"], shown["own_cap"]) == ("5000.00", True), who
    assert node.client.get(path, headers=node.auth("tier1")).status_code == 404
    # only a proposal sets it: the financier itself cannot
    direct = refused(node, "bank", "/v1/settlement/mint", _mint(node, "5000.01"), 409)
    assert direct["details"]["error"] == "SettlementIssuanceCapExceeded"

    not_financier = {"kind": "set_issuance_cap", "member_id": w.tier1.id, "cap": "1.00"}
    assert refused(node, "operator", PROPOSALS, not_financier, 409)["code"] == (
        "member_not_financier"
    )
    unknown = {"kind": "set_issuance_cap", "member_id": 999, "cap": "1.00"}
    assert refused(node, "operator", PROPOSALS, unknown, 404)["code"] == "member_not_found"
    for cap in ("1.001", "-1", "", "1e3"):
        body = {"kind": "set_issuance_cap", "member_id": bank, "cap": cap}
        refused(node, "operator", PROPOSALS, body, 422)
    zero = passed(node, {"kind": "set_issuance_cap", "member_id": bank, "cap": "0"})
    assert zero["actions"][0]["args"]["cap"] == 0
    assert node.get("bank", path)["available"] == "0.00"


def _mint(node: CommitteeNode, amount: str) -> dict[str, Any]:
    return {"to_member_id": node.world.tier1.id, "amount": amount, "bank_reference": DOC}


def test_retally_settles_a_proposal_the_committees_new_rules_decide(node: CommitteeNode) -> None:
    stuck = propose(node, {"kind": "set_parameter", "key": "RETALLIED", "value": 1})
    assert stuck["state"] == "pending"  # 2 of 5 voted: below 60 %
    path = f"{PROPOSALS}/{stuck['id']}/retally"
    assert node.post("core2", path, expect=200)["state"] == "pending"  # nothing changed yet
    assert refused(node, "tier1", path, None, 403)["code"] == "not_a_governor"
    assert refused(node, "core2", f"{PROPOSALS}/999/retally", None, 404)["code"] == (
        "proposal_not_found"
    )
    rule = {"kind": "set_thresholds", "participation_percent": 40, "win_percent": 51}
    passed(node, rule)
    try:
        retallied = node.post("core2", path, expect=200)
        assert retallied["state"] == "executed"  # 2 of 5 is 40 % now
        again = refused(node, "core2", path, None, 409)
        assert again["details"]["error"] == "GovernanceProposalNotPending"
    finally:
        back = {"kind": "set_thresholds", "participation_percent": 60, "win_percent": 60}
        assert propose(node, back)["state"] == "executed"


def test_a_proposal_expires_after_its_voting_period(node: CommitteeNode) -> None:
    """Last in this module: it moves the ledger's clock a week on. A failed approval
    expires with it: its execution window is one voting period from its approval."""
    tier2 = node.world.tier2.id
    failed = propose(node, {"kind": "suspend_member", "member_id": tier2})
    passed(node, {"kind": "suspend_member", "member_id": tier2})
    approved = vote(node, failed["id"], "bank")
    assert approved["state"] == "approved"
    assert approved["executable_until"] == iso_instant(
        int(node.ledger.get_block("latest")["timestamp"])
        + int(node.world.consortium.governance.call("votingPeriod"))
    )
    passed(node, {"kind": "reinstate_member", "member_id": tier2})  # the cause is fixed
    proposal = propose(node, {"kind": "set_parameter", "key": "TOO_LATE", "value": 1})
    assert proposal["executable_until"] is None
    created = int(node.ledger.get_block("latest")["timestamp"])  # the proposal's block
    period = int(node.world.consortium.governance.call("votingPeriod"))
    assert (proposal["created_at"], proposal["deadline"]) == (
        iso_instant(created),
        iso_instant(created + period),
    )
    node.ledger.increase_time(7 * DAY + 60)
    assert node.get("bank", f"{PROPOSALS}/{proposal['id']}")["state"] == "expired"
    late = refused(node, "bank", f"{PROPOSALS}/{proposal['id']}/votes", {"support": "for"}, 409)
    assert late["details"]["error"] == "GovernanceProposalNotPending"
    assert late["details"]["args"]["state"] == "expired"  # by name, as the API says states

    assert node.get("regulator", f"{PROPOSALS}/{failed['id']}")["state"] == "expired"
    stale = refused(node, "bank", f"{PROPOSALS}/{failed['id']}/execute", None, 409)
    assert stale["details"]["error"] == "GovernanceProposalNotApproved"
    assert stale["details"]["args"]["state"] == "expired"
    assert node.get("operator", f"/v1/members/{tier2}")["status"] == "active"


# ---- the committee's own rules ---------------------------------------------------------------

COMMITTEE = "/v1/governance/committee"


def test_the_committee_is_read_by_governors_and_auditors_only(node: CommitteeNode) -> None:
    w = node.world
    committee = node.get("regulator", COMMITTEE)
    assert node.get("bank", COMMITTEE) == committee
    weights = {g["account"]: (g["member_id"], g["weight"]) for g in committee["governors"]}
    assert weights == {
        w.governor.address: (1, 2),
        w.bank.address: (w.bank.id, 2),
        w.core2.address: (w.core2.id, 1),
    }
    assert committee["total_weight"] == 5
    assert (committee["participation_percent"], committee["win_percent"]) == (60, 60)
    assert committee["voting_period_seconds"] > 0
    assert committee["paused"] is False
    for who in ("tier1", "core"):
        denied = node.client.get(COMMITTEE, headers=node.auth(who))
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "not_a_governor"
    assert node.client.get(COMMITTEE).status_code == 401


def test_the_committee_changes_its_voting_period_and_thresholds(node: CommitteeNode) -> None:
    before = node.get("bank", COMMITTEE)
    decided = passed(node, {"kind": "set_voting_period", "voting_period_seconds": 3 * DAY})
    assert decided["kind"] == "set_voting_period"
    assert decided["actions"][0]["function"] == "setVotingPeriod"
    assert node.get("regulator", COMMITTEE)["voting_period_seconds"] == 3 * DAY
    later = propose(node, {"kind": "set_parameter", "key": "THREE_DAYS", "value": 1})
    assert later["deadline"] == iso_instant(
        int(node.ledger.get_block("latest")["timestamp"]) + 3 * DAY
    )

    rule = {"kind": "set_thresholds", "participation_percent": 40, "win_percent": 51}
    assert passed(node, rule)["kind"] == "set_thresholds"
    try:
        # 2 of 5 is 40 %: the operator's own vote now carries its proposal
        alone = propose(node, {"kind": "set_parameter", "key": "ALONE", "value": 1})
        assert alone["state"] == "executed"
        assert node.get("bank", COMMITTEE)["participation_percent"] == 40
    finally:
        back = {"kind": "set_thresholds", "participation_percent": 60, "win_percent": 60}
        assert propose(node, back)["state"] == "executed"  # still 40 %: the operator alone
    period = {"kind": "set_voting_period", "voting_period_seconds": before["voting_period_seconds"]}
    assert propose(node, period)["state"] == "pending"  # 60 % again: not alone any more
    assert node.get("bank", COMMITTEE)["voting_period_seconds"] == 3 * DAY
    passed(node, period)
    assert node.get("bank", COMMITTEE) == before


def test_committee_rules_out_of_range_are_refused(node: CommitteeNode) -> None:
    for body in (
        {"kind": "set_thresholds", "participation_percent": 0, "win_percent": 60},
        {"kind": "set_thresholds", "participation_percent": 60, "win_percent": 101},
        {"kind": "set_thresholds", "participation_percent": 60},
        {"kind": "set_voting_period", "voting_period_seconds": 0},
        {"kind": "set_voting_period", "voting_period_seconds": 365 * DAY + 1},
    ):
        assert refused(node, "operator", PROPOSALS, body, 422)["code"] == "validation_error"
    denied = refused(
        node, "tier1", PROPOSALS, {"kind": "set_voting_period", "voting_period_seconds": DAY}, 403
    )
    assert denied["code"] == "not_a_governor"


# ---- upgrades (docs/decisions/0013) ------------------------------------------------------


def test_the_committee_upgrades_a_business_contract_by_proposal(node: CommitteeNode) -> None:
    w = node.world
    token = w.consortium.settlement
    passed(node, {"kind": "set_issuance_cap", "member_id": w.bank.id, "cap": "1000000.00"})
    before = _mint(node, "12.34")
    node.post("bank", "/v1/settlement/mint", before)
    balance = node.get("tier1", "/v1/settlement/balance")["balance"]
    new = deploy_implementation(w.consortium, w.governor, "SettlementToken")
    digest = "0x" + code_hash(w.ledger, new.address).hex()
    body = {
        "kind": "upgrade_contract",
        "contract": "SettlementToken",
        "implementation": new.address,
        "code_hash": digest,
    }
    # what execution would refuse is refused at once
    wrong = body | {"code_hash": "0x" + "00" * 32}
    mismatch = refused(node, "operator", PROPOSALS, wrong, 409)
    assert (mismatch["code"], mismatch["details"]["code_hash"]) == (
        "implementation_code_mismatch",
        digest,
    )
    current = body | {"implementation": implementation_of(token)}
    current["code_hash"] = "0x" + code_hash(w.ledger, current["implementation"]).hex()
    assert refused(node, "operator", PROPOSALS, current, 409)["code"] == "implementation_current"
    foreign = deploy_contract(
        w.ledger, w.governor, "SettlementToken", w.outsider.address, w.consortium.members.address
    )
    alien = body | {
        "implementation": foreign.address,
        "code_hash": "0x" + code_hash(w.ledger, foreign.address).hex(),
    }
    refusal = refused(node, "operator", PROPOSALS, alien, 409)
    assert refusal["code"] == "implementation_foreign_governance"
    for bad in (
        {"contract": "MemberRegistry"},
        {"code_hash": "0x12"},
        {"call_data": "0x1"},
        {"implementation": "0x1234"},
    ):
        refused(node, "operator", PROPOSALS, body | bad, 422)
    proposed = propose(node, body | {"description": "SettlementToken, rebuilt"})
    assert (proposed["kind"], proposed["state"]) == ("upgrade_contract", "pending")
    assert proposed["actions"] == [
        {
            "contract": "SettlementToken",
            "function": "upgradeToVerified",
            "args": {"newImplementation": new.address, "codeHash": digest, "data": "0x"},
        }
    ]
    assert implementation_of(token) != new.address  # not before the committee decides
    decided = vote(node, proposed["id"], "bank")
    assert decided["state"] == "executed", decided
    assert implementation_of(token) == new.address
    # the money is where it was and the API keeps writing through the same address
    assert node.get("tier1", "/v1/settlement/balance")["balance"] == balance
    node.post("bank", "/v1/settlement/mint", _mint(node, "0.66"))
    after = node.get("tier1", "/v1/settlement/balance")["balance"]
    assert Decimal(after) == Decimal(balance) + Decimal("0.66")


def test_a_contract_deployed_before_the_proxies_is_not_upgraded(node: CommitteeNode) -> None:
    """A consortium whose business contracts are plain contracts (before decisions/0013)."""
    w = node.world
    c = w.consortium
    plain = deploy_contract(
        w.ledger,
        w.governor,
        "FinancingHub",
        *implementation_args("FinancingHub", c.addresses()),
    )
    # a plain deployment of today's code (empty ERC-1967 slot), and code without
    # `implementation()` at all, as the contracts before the proxies were
    no_proxy = ContractHandle(w.ledger, plain.artifact, c.members.address)
    new = deploy_implementation(c, w.governor, "FinancingHub")
    digest = "0x" + code_hash(w.ledger, new.address).hex()
    for hub in (plain, no_proxy):
        legacy = Consortium(c.ledger, c.contracts | {"FinancingHub": hub})
        with pytest.raises(ProposalConflict) as refused:
            Committee(legacy, writer=None).calls_for(
                "upgrade_contract",
                contract="FinancingHub",
                implementation=new.address,
                code_hash=digest,
                call_data="0x",
            )
        assert refused.value.code == "contract_not_upgradeable"
