"""The consortium as the registries and the committee hold it on chain, as plain dicts.

Read from the contracts, not the read model, so they are right on a stopped
home and while the indexer catches up. Members and proposals are read one by
one: a consortium has tens of members, not millions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from web3 import Web3

from chain.contract import ContractHandle
from chain.deploy import Consortium
from chain.errors import jsonable
from chain.governance import ProposalState, VoteType
from chain.roles import role_names
from chain.scf import get_member

_DECODER = Web3()


def utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def member(consortium: Consortium, member_id: int) -> dict[str, Any]:
    """Member ``member_id``; reverts ``MemberNotFound`` when there is none."""
    on_chain = get_member(consortium, member_id)
    return {
        "id": member_id,
        "name": on_chain.name,
        "credit_code_hash": jsonable(on_chain.credit_code_hash),
        "certificate_fingerprint": jsonable(on_chain.certificate_fingerprint),
        "status": on_chain.status.name.lower(),
        "roles": role_names(on_chain.roles),
        "admitted_at": utc(on_chain.admitted_at),
        "accounts": list(consortium.members.call("accountsOf", member_id)),
    }


def members(consortium: Consortium) -> list[dict[str, Any]]:
    count = int(consortium.members.call("memberCount"))
    return [member(consortium, member_id) for member_id in range(1, count + 1)]


def proposal(consortium: Consortium, proposal_id: int) -> dict[str, Any]:
    """Proposal ``proposal_id`` with its actions decoded; reverts
    ``GovernanceProposalNotFound`` when there is none."""
    governance = consortium.governance
    view = governance.call_struct("getProposal", proposal_id)
    executable_until = int(view["executableUntil"])  # 0 until approved
    state = ProposalState(governance.call("state", proposal_id))
    by_address = {handle.address: handle for handle in consortium.contracts.values()}
    voters = governance.call("votersOf", proposal_id)
    votes = {voter: _vote(governance, proposal_id, voter) for voter in voters}
    return {
        "id": proposal_id,
        "state": state.name,
        "description": view["description"],
        "proposer": view["proposer"],
        "created_at": utc(int(view["createdAt"])),
        "deadline": utc(int(view["deadline"])),
        # an approved proposal whose execution failed may be retried until then, then expires
        "executable_until": utc(executable_until) if executable_until else None,
        "for_weight": int(view["forWeight"]),
        "against_weight": int(view["againstWeight"]),
        "total_weight": int(view["totalWeight"]),
        "votes": votes,
        "actions": [
            _action(by_address.get(Web3.to_checksum_address(t)), t, bytes(d))
            for t, d in zip(view["targets"], view["calldatas"], strict=True)
        ],
    }


def _vote(governance: ContractHandle, proposal_id: int, voter: str) -> str:
    support = VoteType(governance.call("voteOf", proposal_id, voter))
    return "FOR" if support is VoteType.FOR else "AGAINST"


def proposals(consortium: Consortium, state: ProposalState | None = None) -> list[dict[str, Any]]:
    count = int(consortium.governance.call("proposalCount"))
    found = [proposal(consortium, proposal_id) for proposal_id in range(1, count + 1)]
    return [p for p in found if state is None or p["state"] == state.name]


def pending_proposal_ids(consortium: Consortium) -> list[int]:
    """Cheaper than ``proposals``: only the states."""
    governance = consortium.governance
    count = int(governance.call("proposalCount"))
    return [
        proposal_id
        for proposal_id in range(1, count + 1)
        if ProposalState(governance.call("state", proposal_id)) is ProposalState.PENDING
    ]


def nodes(consortium: Consortium) -> list[dict[str, Any]]:
    registry = consortium.nodes
    out = []
    for node_id in registry.call("nodeIds"):
        node = registry.call_struct("getNode", node_id)
        out.append(
            {
                "id": jsonable(bytes(node_id)),
                "owner_member_id": int(node["ownerMemberId"]),
                "endpoint": node["endpoint"],
                "allowed": bool(node["allowed"]),
                "added_at": utc(int(node["addedAt"])),
                "public_key": jsonable(bytes(node["publicKey"])),
            }
        )
    return out


def governors(consortium: Consortium) -> list[dict[str, Any]]:
    governance = consortium.governance
    return [
        {"address": address, "weight": int(governance.call("weightOf", address))}
        for address in governance.call("governors")
    ]


def _action(handle: ContractHandle | None, target: str, data: bytes) -> str:
    """``Contract.function(arg=value, ...)`` for a proposal's call, or the raw calldata."""
    if handle is None:
        return f"{target}: 0x{data.hex()}"
    contract = _DECODER.eth.contract(abi=handle.artifact.abi)
    try:
        fn, args = contract.decode_function_input(data)
    except ValueError:
        return f"{handle.artifact.name}: 0x{data.hex()}"
    rendered = ", ".join(f"{k}={jsonable(v)}" for k, v in args.items())
    return f"{handle.artifact.name}.{fn.fn_name}({rendered})"
