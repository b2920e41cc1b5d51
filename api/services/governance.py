"""The committee's work for governor members: read proposals, propose, vote, execute, revoke.

Proposals are read from ``ConsortiumGovernance`` itself (the ledger is the source of truth
for votes and states; expiry is a matter of block time). Writes are signed with the
governor member's own custodial account. Before proposing, the service checks what the
ledger would refuse at execution time (suspending a suspended member, adding a known
node), so a mistake answers 404/409 at once instead of leaving an approved proposal whose
execution failed; if the ledger changes in between, the failure is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.grammar import parse
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3
from web3.types import TxReceipt

from api.deps import Write
from api.money import parse_amount
from api.readmodel.models import MemberAccountRow, MemberRow
from api.schemas.governance import ProposalStateName
from api.services.api_keys import ForbiddenError
from api.services.visibility import NotFound, is_auditor
from api.services.writer import LedgerWriter
from api.wire import bytes32, utc_datetime
from chain.contract import ContractHandle
from chain.deploy import Consortium
from chain.errors import ContractRevert, ScfError, jsonable
from chain.event_codec import checksum_addresses
from chain.governance import Call, ProposalState, VoteType, execution_failure
from chain.revert import abi_type_of, decode_revert
from chain.roles import BIT_OF_ROLE, Role
from chain.scf import Member, MemberStatus, get_member
from chain.upgrades import implementation_of, upgrade_call

STATE_NAMES: dict[ProposalState, ProposalStateName] = {
    ProposalState.PENDING: "pending",
    ProposalState.APPROVED: "approved",
    ProposalState.EXECUTED: "executed",
    ProposalState.REJECTED: "rejected",
    ProposalState.EXPIRED: "expired",
    ProposalState.REVOKED: "revoked",
}
SUPPORT = {"for": VoteType.FOR, "against": VoteType.AGAINST}
# What a proposal is, named after its action (a batch of several kinds is a "batch").
KIND_OF_FUNCTION = {
    "admitMember": "admit_member",
    "suspendMember": "suspend_member",
    "reinstateMember": "reinstate_member",
    "addNode": "add_node",
    "removeNode": "remove_node",
    "setParameter": "set_parameter",
    "setGovernor": "set_governor",
    "setThresholds": "set_thresholds",
    "setVotingPeriod": "set_voting_period",
    "setIssuanceCap": "set_issuance_cap",
    "pause": "pause",
    "unpause": "unpause",
    "upgradeToVerified": "upgrade_contract",
}
_ZERO_ADDRESS = "0x" + "00" * 20


class NotAGovernor(ForbiddenError):
    code = "not_a_governor"


class NotProposer(ForbiddenError):
    code = "not_proposer"


class AbstainNotRecorded(ScfError):
    code = "abstain_not_recorded"
    http_status = 422


class ProposalConflict(ScfError):
    """The ledger's state already makes the proposed action fail."""

    http_status = 409

    def __init__(self, code: str, message: str, **details: Any) -> None:
        self.code = code
        super().__init__(message, details=details)


@dataclass(frozen=True)
class Action:
    contract: str
    function: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Vote:
    governor: str
    support: VoteType
    weight: int


@dataclass(frozen=True)
class Proposal:
    id: int
    proposer: str
    description: str
    state: ProposalState
    created_at: datetime
    deadline: datetime
    executable_until: datetime | None  # set at approval: end of the retry window
    for_weight: int
    against_weight: int
    total_weight: int
    actions: list[Action]
    votes: list[Vote]

    @property
    def kind(self) -> str:
        kinds = {KIND_OF_FUNCTION.get(a.function, a.function) for a in self.actions}
        return kinds.pop() if len(kinds) == 1 else "batch"


class CalldataDecoder:
    """Names a proposal's actions: contract, function and arguments, from the ABIs."""

    def __init__(self, consortium: Consortium) -> None:
        self._functions: dict[tuple[str, bytes], tuple[str, str, list[str], list[str]]] = {}
        for contract_name, handle in consortium.contracts.items():
            for item in handle.artifact.abi:
                if item["type"] != "function":
                    continue
                types = [abi_type_of(i) for i in item["inputs"]]
                names = [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])]
                selector = function_signature_to_4byte_selector(
                    f"{item['name']}({','.join(types)})"
                )
                key = (handle.address.lower(), selector)
                self._functions[key] = (contract_name, item["name"], names, types)

    def decode(self, target: str, data: bytes) -> Action:
        known = self._functions.get((target.lower(), bytes(data[:4])))
        if known is None:
            return Action(target, "0x" + bytes(data[:4]).hex(), {"data": jsonable(bytes(data))})
        contract, function, names, types = known
        try:
            values = abi_decode(types, bytes(data[4:]))
        except Exception:  # malformed calldata can be proposed; show it raw
            return Action(contract, function, {"data": jsonable(bytes(data))})
        return Action(
            contract,
            function,
            {
                n: _readable(checksum_addresses(parse(t), v))
                for n, t, v in zip(names, types, values, strict=True)
            },
        )


def _readable(value: Any) -> Any:
    """Role ids by their names; other values as JSON-friendly as decoded errors are."""
    role = Role.by_id(value) if isinstance(value, bytes) else None
    if role is not None:
        return role.value
    if isinstance(value, list | tuple):
        return [_readable(v) for v in value]
    return jsonable(value)


class Committee:
    def __init__(self, consortium: Consortium, writer: LedgerWriter | None) -> None:
        self._consortium = consortium
        self._governance = consortium.governance
        self._writer = writer
        self._decoder = CalldataDecoder(consortium)

    # ---- who may do what ---------------------------------------------------------------

    def is_governor(self, account: str) -> bool:
        return bool(self._governance.call("isGovernor", account))

    def require_reader(self, session: Session, member: MemberRow) -> None:
        """Governors and auditors read the committee's work; other members do not."""
        if is_auditor(member) or any(self.is_governor(a) for a in _accounts(session, member)):
            return
        raise NotAGovernor(
            f"member {member.id} is neither a governor nor an auditor",
            details={"member_id": member.id},
        )

    def require_governor(self, session: Session, member: MemberRow) -> str:
        """The governor account this node signs with for ``member``, or 403."""
        if self._writer is None:
            raise NotAGovernor("this API node has no ledger writer")
        account = self._writer.account_of(session, member.id)
        if not self.is_governor(account):
            raise NotAGovernor(
                f"member {member.id}'s account {account} is not a governor",
                details={"member_id": member.id, "account": account},
            )
        return account

    # ---- reading -----------------------------------------------------------------------

    def count(self) -> int:
        return int(self._governance.call("proposalCount"))

    def proposal(self, proposal_id: int) -> Proposal:
        if not 1 <= proposal_id <= self.count():
            raise NotFound("proposal", proposal_id)
        view = self._governance.call_struct("getProposal", proposal_id)
        votes = []
        for governor in self._governance.call("votersOf", proposal_id):
            support = VoteType(self._governance.call("voteOf", proposal_id, governor))
            if support is not VoteType.NONE:  # a replaced former governor's slot
                weight = int(self._governance.call("weightOf", governor))
                votes.append(Vote(governor, support, weight))
        return Proposal(
            id=proposal_id,
            proposer=view["proposer"],
            description=view["description"],
            state=ProposalState(view["state"]),
            created_at=utc_datetime(view["createdAt"]),
            deadline=utc_datetime(view["deadline"]),
            executable_until=(
                utc_datetime(view["executableUntil"]) if view["executableUntil"] else None
            ),
            for_weight=int(view["forWeight"]),
            against_weight=int(view["againstWeight"]),
            total_weight=int(view["totalWeight"]),
            actions=[
                self._decoder.decode(t, d)
                for t, d in zip(view["targets"], view["calldatas"], strict=True)
            ],
            votes=votes,
        )

    def settings(self) -> dict[str, Any]:
        """Governors with their weights, the thresholds, the voting period, the pause flag."""
        gov = self._governance
        governors = [str(a) for a in gov.call("governors")]
        return {
            "governors": [(a, int(gov.call("weightOf", a))) for a in governors],
            "total_weight": int(gov.call("totalWeight")),
            "participation_percent": int(gov.call("participationPercent")),
            "win_percent": int(gov.call("winPercent")),
            "voting_period_seconds": int(gov.call("votingPeriod")),
            "paused": bool(gov.call("paused")),
        }

    def page(self, limit: int, offset: int) -> tuple[list[Proposal], int]:
        """Newest first, and how many there are."""
        total = self.count()
        first = total - offset
        ids = range(first, max(0, first - limit), -1)
        return [self.proposal(i) for i in ids], total

    # ---- proposing ---------------------------------------------------------------------

    def calls_for(self, kind: str, **fields: Any) -> tuple[list[Call], str]:
        """The calls a proposal of ``kind`` makes, and a default description; raises what
        the ledger would refuse at execution now."""
        members, nodes, gov = self._consortium.members, self._consortium.nodes, self._governance
        if kind == "suspend_member":
            member_id = fields["member_id"]
            self._require_member_status(member_id, MemberStatus.ACTIVE, "member_not_active")
            return [(members, "suspendMember", (member_id,))], f"Suspend member {member_id}"
        if kind == "reinstate_member":
            member_id = fields["member_id"]
            self._require_member_status(member_id, MemberStatus.SUSPENDED, "member_not_suspended")
            return [(members, "reinstateMember", (member_id,))], f"Reinstate member {member_id}"
        if kind == "add_node":
            public_key = bytes.fromhex(fields["public_key"].removeprefix("0x"))
            self._require_member(fields["owner_member_id"])
            node_id = keccak(public_key)
            if nodes.call("isNodeAllowed", node_id):
                raise ProposalConflict(
                    "node_already_registered",
                    f"node 0x{node_id.hex()} is on the allow-list already",
                    node_id="0x" + node_id.hex(),
                )
            args = (public_key, fields["owner_member_id"], fields["endpoint"])
            return [(nodes, "addNode", args)], f"Add node 0x{node_id.hex()}"
        if kind == "remove_node":
            node_id = bytes32(fields["node_id"])
            if not nodes.call("isNodeAllowed", node_id):
                raise NotFound("node", fields["node_id"])
            return [(nodes, "removeNode", (node_id,))], f"Remove node {fields['node_id']}"
        if kind == "set_parameter":
            key, value = fields["key"], fields["value"]
            return [(gov, "setParameter", (keccak(text=key), value))], f"Set {key} to {value}"
        if kind == "set_governor":
            account, weight = fields["account"], fields["weight"]
            text = f"Set governor {account} to weight {weight}"
            return [(gov, "setGovernor", (account, weight))], text
        if kind == "set_thresholds":
            rule = (fields["participation_percent"], fields["win_percent"])
            text = f"Set thresholds to {rule[0]} % participation, {rule[1]} % for"
            return [(gov, "setThresholds", rule)], text
        if kind == "set_voting_period":
            seconds = fields["voting_period_seconds"]
            return [(gov, "setVotingPeriod", (seconds,))], f"Set the voting period to {seconds} s"
        if kind == "set_issuance_cap":
            member_id, cap = fields["member_id"], issuance_cap_fen(fields["cap"])
            self._require_financier(member_id)
            settlement = self._consortium.settlement
            text = f"Set member {member_id}'s issuance cap to {fields['cap']} CNY"
            return [(settlement, "setIssuanceCap", (member_id, cap))], text
        if kind in ("pause", "unpause"):
            if bool(gov.call("paused")) == (kind == "pause"):
                state = "paused" if kind == "pause" else "not paused"
                raise ProposalConflict(
                    f"consortium_{state.replace(' ', '_')}", f"the consortium is {state}"
                )
            return [(gov, kind, ())], f"{kind.capitalize()} the consortium"
        if kind == "upgrade_contract":
            target, implementation = fields["contract"], fields["implementation"]
            return self._upgrade_calls(
                target, implementation, fields["code_hash"], fields["call_data"]
            )
        raise ValueError(f"unknown proposal kind {kind}")  # the schema admits only the above

    def _upgrade_calls(
        self, contract: str, implementation: str, expected_hash: str, call_data: str
    ) -> tuple[list[Call], str]:
        """Refuse now an upgrade whose execution would fail on the code as it is."""
        ledger, proxy = self._consortium.ledger, self._consortium.contracts[contract]
        try:
            current = implementation_of(proxy)
        except ScfError:  # no `implementation()`: a contract deployed before the proxies
            current = _ZERO_ADDRESS
        if int(current, 16) == 0:  # not behind a proxy: the ERC-1967 slot is empty
            raise ProposalConflict(
                "contract_not_upgradeable",
                f"{contract} at {proxy.address} is not a proxy (a consortium deployed before "
                "decisions/0013): it moves by migration, see operations.md 9",
                contract=contract,
            )
        address = Web3.to_checksum_address(implementation)
        actual = "0x" + keccak(ledger.get_code(address)).hex()
        if actual != expected_hash.lower():
            raise ProposalConflict(
                "implementation_code_mismatch",
                f"the code at {address} hashes to {actual}, not {expected_hash}",
                implementation=address,
                code_hash=actual,
            )
        if current == address:
            raise ProposalConflict(
                "implementation_current", f"{contract} runs {address} already", contract=contract
            )
        try:
            obeys = ContractHandle(ledger, proxy.artifact, address).call("governance")
        except ScfError:
            obeys = None
        if obeys != self._governance.address:
            raise ProposalConflict(
                "implementation_foreign_governance",
                f"{address} does not obey this consortium's governance",
                implementation=address,
            )
        data = bytes.fromhex(call_data.removeprefix("0x"))
        text = f"Upgrade {contract} to {address} (code {actual})"
        return [upgrade_call(proxy, address, bytes32(actual), data)], text

    def _require_member(self, member_id: int) -> Member:
        try:
            return get_member(self._consortium, member_id)
        except ContractRevert as exc:
            if exc.error_name == "MemberNotFound":
                raise NotFound("member", member_id) from None
            raise

    def _require_financier(self, member_id: int) -> None:
        if not self._require_member(member_id).roles & BIT_OF_ROLE[Role.FINANCIER]:
            raise ProposalConflict(
                "member_not_financier",
                f"member {member_id} is not a financier",
                member_id=member_id,
            )

    def _require_member_status(self, member_id: int, wanted: MemberStatus, code: str) -> None:
        status = self._require_member(member_id).status
        if status is not wanted:
            named = status in (MemberStatus.ACTIVE, MemberStatus.SUSPENDED)
            name = status.name.lower() if named else str(int(status))
            raise ProposalConflict(
                code, f"member {member_id} is {name}", member_id=member_id, status=name
            )

    def propose(self, write: Write, calls: list[Call], description: str) -> TxReceipt:
        self.require_governor(write.session, write.member)
        targets = [handle.address for handle, _, _ in calls]
        datas = [handle.encode(fn, *args) for handle, fn, args in calls]
        return write.send(self._governance, "propose", targets, datas, description)

    def proposal_id_of(self, receipt: TxReceipt) -> int:
        return int(self._governance.event_args(receipt, "ProposalCreated")["proposalId"])

    # ---- deciding ----------------------------------------------------------------------

    def vote(self, write: Write, proposal_id: int, support: str) -> TxReceipt:
        if support not in SUPPORT:
            raise AbstainNotRecorded(
                "the committee records votes for and against only; to abstain, do not vote",
                details={"support": support},
            )
        self.require_governor(write.session, write.member)
        self.proposal(proposal_id)  # 404 for an unknown id
        return write.send(self._governance, "vote", proposal_id, int(SUPPORT[support]))

    def execute(self, write: Write, proposal_id: int) -> TxReceipt:
        self.require_governor(write.session, write.member)
        self.proposal(proposal_id)
        try:
            return write.send(self._governance, "execute", proposal_id)
        except ContractRevert as exc:
            if exc.error_name == "GovernanceActionFailed":  # name the action's own error
                raise decode_revert(exc.error_args["reason"]) from None
            raise

    def retally(self, write: Write, proposal_id: int) -> TxReceipt:
        """Count a pending proposal again under the current weights and thresholds."""
        self.require_governor(write.session, write.member)
        self.proposal(proposal_id)
        return write.send(self._governance, "retally", proposal_id)

    def revoke(self, write: Write, proposal_id: int) -> TxReceipt:
        account = self.require_governor(write.session, write.member)
        proposal = self.proposal(proposal_id)
        if proposal.proposer.lower() != account.lower():
            raise NotProposer(
                f"only its proposer {proposal.proposer} may revoke proposal {proposal_id}",
                details={"proposal_id": proposal_id, "proposer": proposal.proposer},
            )
        return write.send(self._governance, "revoke", proposal_id)

    def execution_error(self, receipt: TxReceipt) -> ContractRevert | None:
        """Why the actions approved in ``receipt`` failed to run, if they did."""
        return execution_failure(self._governance, receipt)


def issuance_cap_fen(cap: str) -> int:
    """A cap in CNY (decimal string, already shape-checked) in fen; zero is a valid cap."""
    return 0 if Decimal(cap) == 0 else parse_amount(cap)


def _accounts(session: Session, member: MemberRow) -> list[str]:
    return list(
        session.scalars(
            select(MemberAccountRow.address).where(MemberAccountRow.member_id == member.id)
        )
    )


def member_ids_of(session: Session, accounts: list[str]) -> dict[str, int]:
    """Member id per bound account (accounts no member holds are left out)."""
    rows = session.execute(
        select(MemberAccountRow.address, MemberAccountRow.member_id).where(
            MemberAccountRow.address.in_(accounts)
        )
    )
    return {address.lower(): member_id for address, member_id in rows}
