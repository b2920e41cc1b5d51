"""A legacy committee hands its governance over and its registries move (chain/migration.py,
contracts/src/migration/RegistryImporters.sol, docs/decisions/0025).

On an embedded ledger of its own that admits only members and governors, as a node does: a
committee of three (one governor no member) is copied to the successor governance; the
registries' windows refuse to open before the handover, and the committee's approved opening
is executed again once it is done (the successor's execution window); open legacy proposals
are left behind where no legacy vote counts; the node admits the successor's governors while
the legacy governance is handed over. Refused on the way: an import into a registry that holds
records, a record that collides, records the legacy registries do not hold, a node count off.
Legacy events are read in bounded block ranges (providers limit eth_getLogs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.contract import ContractHandle, deploy_contract
from chain.deploy import MemberSpec
from chain.errors import ScfError, TransactionRefused
from chain.governance import (
    Call,
    ProposalState,
    VoteType,
    execution_failure,
    pass_proposal,
    proposal_state,
    propose,
    vote,
)
from chain.migration import (
    committee_of,
    handover_calls,
    logs_in_ranges,
    open_proposals,
    opening_calls,
    prepare,
    settings_calls,
)
from chain.roles import Role
from tests.contracts.legacy import deploy_legacy_consortium
from tests.helpers import DAY, admit_member, govern, new_credit_code, new_signer, reverts

NODE_KEY = b"\x33" * 64


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[EmbeddedLedger]:
    ledger = EmbeddedLedger(tmp_path / "chain", dev=True)
    yield ledger
    ledger.close()


def _carried(governance: ContractHandle, proposer: Signer, calls: Sequence[Call],
             voters: Sequence[Signer]) -> tuple[int, TxReceipt]:  # fmt: skip
    """Propose and vote until approved; the receipt of the approving transaction."""
    proposal_id, receipt = propose(governance, proposer, calls, "test")
    for voter in voters:
        if proposal_state(governance, proposal_id) is not ProposalState.PENDING:
            break
        receipt = vote(governance, voter, proposal_id, VoteType.FOR)
    return proposal_id, receipt


def test_the_committee_hands_over_and_the_registries_move(chain: EmbeddedLedger) -> None:
    g1, g2, g3 = new_signer(chain), new_signer(chain), new_signer(chain)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], g1.address)
    legacy = deploy_legacy_consortium(chain, g1, operator)
    bank = admit_member(legacy, g1, [Role.FINANCIER], name="Bank")
    second = new_signer(chain)
    govern(legacy, g1,
           (legacy.members, "bindAccount", (bank.id, second.address)),
           (legacy.nodes, "addNode", (NODE_KEY, bank.id, "bank:30303")),
           (legacy.governance, "setGovernor", (g2.address, 1)),  # g2 is no member
           (legacy.governance, "setGovernor", (g3.address, 1)),
           (legacy.governance, "setGovernor", (g1.address, 2)),
           (legacy.governance, "setThresholds", (51, 51)))  # fmt: skip
    chain.admit_only_members(legacy.members.address, legacy.governance.address)
    outsider = new_signer(chain)
    with pytest.raises(TransactionRefused, match="not an active member"):
        legacy.governance.transact(outsider, "revoke", 1, gas=100_000)
    # a legacy proposal still open at the switch
    left, _ = propose(legacy.governance, g3, [(legacy.governance, "setVotingPeriod", (DAY,))], "")

    plan = prepare(legacy, g1)
    successor = plan.governance(chain)
    assert committee_of(successor) == committee_of(legacy.governance)
    assert committee_of(successor).governors == [(g1.address, 2), (g2.address, 1), (g3.address, 1)]
    members = plan.successor(chain, "MemberRegistry")
    nodes = plan.successor(chain, "NodeRegistry")

    # approved before the handover, the opening fails: the legacy registries could still change
    opening, receipt = _carried(successor, g2, opening_calls(legacy, plan), [g1])
    failure = execution_failure(successor, receipt)
    assert failure is not None
    assert failure.error_name == "ImportLegacyNotHandedOver"
    assert proposal_state(successor, opening) is ProposalState.APPROVED

    assert open_proposals(legacy.governance) == [left]
    pass_proposal(legacy.governance, g1, handover_calls(legacy, plan), "Hand over", voters=[g2])
    assert legacy.governance.call("governors") == [successor.address]
    assert legacy.governance.call("paused") is True
    # the open legacy proposal is left behind: no legacy governor votes any more
    with reverts("GovernanceUnauthorizedAccount", g1.address):
        legacy.governance.transact(g1, "vote", left, VoteType.FOR)
    # g2, no member and no legacy governor now, is admitted as the successor's governor
    pass_proposal(successor, g2, settings_calls(legacy, plan, 1_000_00), "Settings", voters=[g1])
    assert members.call("accountListener") == plan.successors["SettlementToken"]
    with pytest.raises(TransactionRefused, match="not an active member"):
        successor.transact(outsider, "revoke", 1, gas=100_000)
    # the approved opening runs now, within its execution window
    successor.transact(g3, "execute", opening)
    assert proposal_state(successor, opening) is ProposalState.EXECUTED

    # records the legacy registries do not hold
    for missing in (0, 3):
        with reverts("ImportNotInLegacy"):
            members.transact(g3, "importMember", missing)
    with reverts("ImportNotInLegacy", keccak(b"\x44" * 64)):
        nodes.transact(g3, "importNode", keccak(b"\x44" * 64))
    members.transact(g3, "importMember", bank.id)
    assert members.call("importMember", bank.id) is False  # once
    assert members.call_struct("getMember", bank.id) == legacy.members.call_struct(
        "getMember", bank.id
    )
    assert members.call("accountsOf", bank.id) == [bank.address, second.address]
    assert members.call("memberOf", second.address) == bank.id
    node_id = keccak(NODE_KEY)
    nodes.transact(g3, "importNode", node_id)
    assert nodes.call_struct("getNode", node_id) == legacy.nodes.call_struct("getNode", node_id)
    assert nodes.call("isNodeAllowed", node_id) is True

    # a member the successor committee admitted under a legacy member's credit code collides
    clash = MemberSpec("Clash", "", [Role.AUDITOR], new_signer(chain).address)
    operator_code = legacy.members.call_struct("getMember", 1)["creditCodeHash"]
    args = (clash.name, operator_code, [Role.AUDITOR.id], clash.account, b"\0" * 32)
    pass_proposal(successor, g1, [(members, "admitMember", args)], "Admit", voters=[g2])
    with reverts("ImportConflict", operator_code):
        members.transact(g3, "importMember", 1)

    # the adoption's node figures must be the legacy's own
    _, receipt = _carried(successor, g1, [(nodes, "closeImport", (1, 0))], [g2])
    failure = execution_failure(successor, receipt)
    assert failure is not None
    assert failure.error_name == "ImportLegacyMismatch"
    assert failure.args_tuple == (1, 0)


def test_a_registry_window_opens_only_on_an_empty_registry(chain: EmbeddedLedger) -> None:
    g1 = new_signer(chain)
    governance = deploy_contract(chain, g1, "ConsortiumGovernance", [g1.address], [1], 100, 100,
                                 DAY)  # fmt: skip
    registry = deploy_contract(chain, g1, "MemberRegistryImport", governance.address)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], g1.address)
    legacy = deploy_legacy_consortium(chain, g1, operator)
    _, receipt = propose(governance, g1, [(registry, "admitMember", operator.admit_args())], "")
    with reverts("ImportRegistryNotEmpty"):
        _, receipt = propose(governance, g1,
                             [(registry, "openImport", (legacy.members.address,))], "")  # fmt: skip
        failure = execution_failure(governance, receipt)
        if failure is not None:
            raise failure
    with reverts("ImportWindowClosed"):  # nothing to import on a registry with no window
        registry.transact(g1, "importMember", 1)


def test_legacy_events_are_read_in_bounded_block_ranges(chain: EmbeddedLedger) -> None:
    g1 = new_signer(chain)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], g1.address)
    legacy = deploy_legacy_consortium(chain, g1, operator)
    for _ in range(3):
        admit_member(legacy, g1, [Role.SUPPLIER])
    topic = keccak(text="MemberAdmitted(uint256,bytes32,string,uint256,address)")
    address = legacy.members.address
    whole = chain.get_logs({"address": address, "topics": ["0x" + topic.hex()],
                            "fromBlock": 0, "toBlock": "latest"})  # fmt: skip
    head = chain.block_number()
    heard: list[tuple[int, int]] = []
    paged = logs_in_ranges(chain, address, topic, span=4, progress=lambda *p: heard.append(p))
    assert len(whole) == 4
    assert paged == whole  # the same logs, in order, none twice
    assert heard == [(min(end, head), head) for end in range(3, head + 4, 4)]
    with pytest.raises(ScfError, match="span must be at least 1"):
        logs_in_ranges(chain, address, topic, span=0)
