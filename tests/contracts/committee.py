"""A small committee of governors deployed for governance tests, and their helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.contract import ContractHandle, deploy_contract
from chain.credit_code import credit_code_hash
from chain.deploy import DAY
from chain.errors import ContractRevert
from chain.governance import Call, ProposalState, VoteType, proposal_state, propose, vote
from chain.ledger import Ledger
from chain.revert import decode_revert
from chain.roles import Role
from tests.helpers import new_credit_code, new_signer

ZERO_ADDRESS = "0x" + "00" * 20
KEY = keccak(text="MIN_SPLIT_AMOUNT")
MAX_GOVERNORS = 32
EXPLICIT_GAS = 3_000_000  # skips estimation where a test sends many plain votes


@dataclass(frozen=True)
class Committee:
    governance: ContractHandle
    members: ContractHandle
    governors: list[Signer]

    def propose(
        self, index: int, calls: Sequence[Call], description: str = "test"
    ) -> tuple[int, TxReceipt]:
        return propose(self.governance, self.governors[index], calls, description)

    def vote(self, index: int, proposal_id: int, choice: VoteType) -> TxReceipt:
        return vote(self.governance, self.governors[index], proposal_id, choice)

    def state(self, proposal_id: int) -> ProposalState:
        return proposal_state(self.governance, proposal_id)

    def set_parameter(self, value: int) -> Call:
        return (self.governance, "setParameter", (KEY, value))

    def parameter(self) -> int:
        return int(self.governance.call("parameter", KEY))


MakeCommittee = Callable[..., Committee]


def committee_factory(ledger: Ledger, deployer: Signer) -> MakeCommittee:
    """Deploy a committee with ``weights`` and thresholds, plus a MemberRegistry it governs."""

    def make(
        weights: Sequence[int] = (1, 1, 1),
        participation: int = 51,
        win: int = 51,
        period: int = DAY,
    ) -> Committee:
        governors = [new_signer(ledger) for _ in weights]
        governance = deploy_contract(
            ledger,
            deployer,
            "ConsortiumGovernance",
            [g.address for g in governors],
            list(weights),
            participation,
            win,
            period,
        )
        members = deploy_contract(ledger, deployer, "MemberRegistry", governance.address)
        return Committee(governance, members, governors)

    return make


def error_data(signature: str, *args: Any) -> bytes:
    """Revert data of custom error ``signature`` (e.g. ``"MemberNotFound(uint256)"``)."""
    types = signature[signature.index("(") + 1 : -1]
    encoded = abi_encode([t for t in types.split(",") if t], list(args))
    return function_signature_to_4byte_selector(signature) + encoded


def checksummed(addresses: Sequence[str]) -> list[str]:
    """Addresses as web3 prints them (``ContractHandle.call`` returns them lower-case)."""
    return [Web3.to_checksum_address(a) for a in addresses]


def event_names(contract: ContractHandle, receipt: TxReceipt) -> list[str]:
    return [e["event"] for e in contract.events(receipt)]


def execution_failure(governance: ContractHandle, receipt: TxReceipt) -> ContractRevert:
    """The GovernanceActionFailed error recorded by the one ProposalExecutionFailed event."""
    reason = governance.event_args(receipt, "ProposalExecutionFailed")["reason"]
    return decode_revert(reason)


def admit_args(account: str) -> tuple[str, bytes, list[bytes], str, bytes]:
    return (
        "Supplier Co",
        credit_code_hash(new_credit_code()),
        [Role.SUPPLIER.id],
        account,
        b"\0" * 32,
    )
