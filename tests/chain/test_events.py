"""Logs of the consortium's contracts decode into named events in ledger order."""

from __future__ import annotations

from chain.accounts import Signer
from chain.deploy import Consortium
from chain.events import EventDecoder
from chain.ledger import Ledger
from chain.roles import Role
from tests.helpers import admit_member


def test_admission_events_decode_with_indexed_and_plain_arguments(
    ledger: Ledger, consortium: Consortium, deployer: Signer
) -> None:
    start = ledger.block_number() + 1
    snapshot = ledger.snapshot()
    try:
        member = admit_member(consortium, deployer, [Role.SUPPLIER], name="Tier-1 Parts Ltd")
        decoder = EventDecoder(consortium)
        events = list(decoder.events(ledger, start, ledger.block_number()))
        names = [(e.contract, e.name) for e in events]
        assert names[:3] == [
            ("ConsortiumGovernance", "ProposalCreated"),
            ("ConsortiumGovernance", "VoteCast"),
            ("ConsortiumGovernance", "ProposalApproved"),
        ]
        admitted = next(e for e in events if e.name == "MemberAdmitted")
        assert admitted.contract == "MemberRegistry"
        assert admitted.args["memberId"] == member.id
        assert admitted.args["name"] == "Tier-1 Parts Ltd"
        assert admitted.args["account"] == member.address
        assert admitted.args["roles"] == 2  # SUPPLIER bit
        assert [e.position for e in events] == sorted(e.position for e in events)
        assert names[-1] == ("ConsortiumGovernance", "ProposalExecuted")
    finally:
        ledger.revert(snapshot)
