"""Deploy and wire the consortium's contracts on a ledger.

The deployer starts as the only governor (admin mode), admits the operator
organization as the first member through a real proposal, then hands the
committee over to the configured governors and thresholds in one more
proposal. Everything after deployment goes through governance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chain.accounts import Signer
from chain.contract import ContractHandle, deploy_contract
from chain.credit_code import credit_code_hash
from chain.governance import Call, pass_proposal
from chain.ledger import Ledger
from chain.roles import Role

DAY = 86_400


@dataclass(frozen=True)
class MemberSpec:
    """A company to admit: what MemberRegistry.admitMember needs."""

    name: str
    credit_code: str
    roles: Sequence[Role]
    account: str
    certificate_fingerprint: bytes = b"\0" * 32

    def admit_args(self) -> tuple[str, bytes, list[bytes], str, bytes]:
        return (
            self.name,
            credit_code_hash(self.credit_code),
            [role.id for role in self.roles],
            self.account,
            self.certificate_fingerprint,
        )


@dataclass(frozen=True)
class CommitteeSpec:
    """Governors with weights and the committee's thresholds (percent) and voting period."""

    governors: Sequence[tuple[str, int]]
    participation_percent: int = 51
    win_percent: int = 51
    voting_period: int = 7 * DAY


@dataclass
class Consortium:
    """Handles of the deployed contracts, by contract name."""

    ledger: Ledger
    contracts: dict[str, ContractHandle] = field(default_factory=dict)

    @property
    def governance(self) -> ContractHandle:
        return self.contracts["ConsortiumGovernance"]

    @property
    def members(self) -> ContractHandle:
        return self.contracts["MemberRegistry"]

    @property
    def nodes(self) -> ContractHandle:
        return self.contracts["NodeRegistry"]

    def addresses(self) -> dict[str, str]:
        return {name: handle.address for name, handle in self.contracts.items()}

    def save(self, path: Path) -> None:
        payload = {"chain_id": self.ledger.chain_id, "contracts": self.addresses()}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", "utf-8")

    @classmethod
    def load(cls, ledger: Ledger, path: Path) -> Consortium:
        payload = json.loads(path.read_text("utf-8"))
        handles = {
            name: ContractHandle.at(ledger, name, address)
            for name, address in payload["contracts"].items()
        }
        return cls(ledger, handles)


def deploy_consortium(
    ledger: Ledger,
    deployer: Signer,
    operator: MemberSpec,
    committee: CommitteeSpec | None = None,
) -> Consortium:
    """Deploy governance, registries and wire them; admit ``operator``; install ``committee``.

    Without ``committee`` the deployer stays the only governor (admin mode).
    """
    operator_args = operator.admit_args()  # validates the credit code before any transaction
    bootstrap = CommitteeSpec(
        governors=[(deployer.address, 1)], participation_percent=100, win_percent=100
    )
    governance = deploy_contract(
        ledger,
        deployer,
        "ConsortiumGovernance",
        [deployer.address],
        [1],
        bootstrap.participation_percent,
        bootstrap.win_percent,
        (committee or bootstrap).voting_period,
    )
    members = deploy_contract(ledger, deployer, "MemberRegistry", governance.address)
    nodes = deploy_contract(ledger, deployer, "NodeRegistry", governance.address, members.address)
    consortium = Consortium(
        ledger,
        {"ConsortiumGovernance": governance, "MemberRegistry": members, "NodeRegistry": nodes},
    )
    pass_proposal(
        governance,
        deployer,
        [(members, "admitMember", operator_args)],
        f"Admit the consortium operator {operator.name}",
    )
    if committee is not None:
        pass_proposal(
            governance,
            deployer,
            _committee_calls(governance, deployer, committee),
            "Install the committee",
        )
    return consortium


def _committee_calls(
    governance: ContractHandle, deployer: Signer, committee: CommitteeSpec
) -> list[Call]:
    calls: list[Call] = [
        (governance, "setGovernor", (address, weight)) for address, weight in committee.governors
    ]
    if all(address.lower() != deployer.address.lower() for address, _ in committee.governors):
        calls.append((governance, "setGovernor", (deployer.address, 0)))
    calls.append(
        (governance, "setThresholds", (committee.participation_percent, committee.win_percent))
    )
    return calls
