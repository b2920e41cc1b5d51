"""Working with ConsortiumGovernance: proposals of calls, votes and their outcome.

Its enums and constants import nothing heavy (the command line builds its options from
them); the functions import what they use when they run.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from chain.errors import ContractRevert

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chain.accounts import Signer
    from chain.contract import ContractHandle

Call = tuple["ContractHandle", str, Sequence[Any]]
MAX_VOTING_PERIOD_SECONDS = 365 * 86_400  # ConsortiumGovernance's MAX_VOTING_PERIOD


class ProposalState(IntEnum):
    """Mirror of ``IConsortiumGovernance.ProposalState``."""

    NONE = 0
    PENDING = 1
    APPROVED = 2
    EXECUTED = 3
    REJECTED = 4
    EXPIRED = 5
    REVOKED = 6


class VoteType(IntEnum):
    NONE = 0
    FOR = 1
    AGAINST = 2


def propose(
    governance: ContractHandle, proposer: Signer, calls: Sequence[Call], description: str
) -> tuple[int, TxReceipt]:
    """Create a proposal executing ``calls``; the proposer's vote counts For. Returns its id."""
    from chain.contract import encode_calls

    targets, datas = encode_calls(calls)
    receipt = governance.transact(proposer, "propose", targets, datas, description)
    proposal_id = int(governance.event_args(receipt, "ProposalCreated")["proposalId"])
    return proposal_id, receipt


def vote(
    governance: ContractHandle, governor: Signer, proposal_id: int, choice: VoteType
) -> TxReceipt:
    return governance.transact(governor, "vote", proposal_id, int(choice))


def proposal_state(governance: ContractHandle, proposal_id: int) -> ProposalState:
    return ProposalState(governance.call("state", proposal_id))


def pass_proposal(
    governance: ContractHandle,
    proposer: Signer,
    calls: Sequence[Call],
    description: str,
    voters: Sequence[Signer] = (),
) -> tuple[int, list[TxReceipt]]:
    """Propose ``calls`` and vote For with ``voters`` until executed; stop voting once it is.

    Raises ``RuntimeError`` if the votes given do not carry the proposal.
    """
    proposal_id, receipt = propose(governance, proposer, calls, description)
    receipts = [receipt]
    for governor in voters:
        if proposal_state(governance, proposal_id) is not ProposalState.PENDING:
            break
        if governor.address == proposer.address:
            continue
        receipts.append(vote(governance, governor, proposal_id, VoteType.FOR))
    state = proposal_state(governance, proposal_id)
    if state is not ProposalState.EXECUTED:
        raise RuntimeError(f"proposal {proposal_id} ended {state.name}, not EXECUTED")
    return proposal_id, receipts


def execution_failure(governance: ContractHandle, receipt: TxReceipt) -> ContractRevert | None:
    """The error of the action that made an approved proposal's execution fail, if it did.

    ``ProposalExecutionFailed`` carries ``GovernanceActionFailed(id, index, reason)``;
    this unwraps ``reason`` into the failing contract's own custom error.
    """
    from chain.revert import decode_revert

    failures = governance.events(receipt, "ProposalExecutionFailed")
    if not failures:
        return None
    wrapper = decode_revert(failures[0]["args"]["reason"])
    if wrapper.error_name != "GovernanceActionFailed":
        return wrapper
    return decode_revert(wrapper.error_args["reason"])
