"""Deploy and wire the consortium's contracts on a ledger.

The deployer starts as the only governor (admin mode), deploys governance, the
registries and the business contracts (invoices, credit lines, certificates,
settlement token, financing hub, maturity; each behind an upgradeable proxy),
wires the business contracts to each other and admits the operator organization
as the first member through real proposals, then hands the committee over to the
configured governors and thresholds in one more proposal. Everything after
deployment goes through governance, upgrades included (chain/upgrades.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.contract import ContractHandle, deploy_contract
from chain.credit_code import credit_code_hash
from chain.governance import Call, pass_proposal
from chain.ledger import Ledger
from chain.roles import Role

DAY = 86_400
# SettlementToken's ISSUANCE_CAP parameter: what each financier without a cap of its own may
# have outstanding (minted minus burned), in fen. A new consortium starts at 10 billion CNY per
# financier; the committee tightens it per financier (`setIssuanceCap`) or for all.
ISSUANCE_CAP_KEY = keccak(text="ISSUANCE_CAP")
DEFAULT_ISSUANCE_CAP = 10_000_000_000_00


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
class NodeSpec:
    """A ledger node to put on the NodeRegistry allow-list: what ``addNode`` needs."""

    public_key: bytes  # 64 bytes, uncompressed secp256k1 without the 04 prefix
    endpoint: str  # where it is reached, e.g. its JSON-RPC URL


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
    # Business contracts a governance-adopted import replaced (chain/migration.py), by name:
    # the nodes refuse transactions to them.
    retired: dict[str, str] = field(default_factory=dict)
    # The block the deployment began at, where an indexer starts (0: from genesis). On a
    # long-lived external network the blocks before it hold nothing of the consortium.
    deployment_block: int = 0

    @property
    def governance(self) -> ContractHandle:
        return self.contracts["ConsortiumGovernance"]

    @property
    def members(self) -> ContractHandle:
        return self.contracts["MemberRegistry"]

    @property
    def nodes(self) -> ContractHandle:
        return self.contracts["NodeRegistry"]

    @property
    def invoices(self) -> ContractHandle:
        return self.contracts["InvoiceRegistry"]

    @property
    def credit_lines(self) -> ContractHandle:
        return self.contracts["CreditLines"]

    @property
    def certificates(self) -> ContractHandle:
        return self.contracts["CreditCertificates"]

    @property
    def settlement(self) -> ContractHandle:
        return self.contracts["SettlementToken"]

    @property
    def financing(self) -> ContractHandle:
        return self.contracts["FinancingHub"]

    @property
    def maturity(self) -> ContractHandle:
        return self.contracts["Maturity"]

    def addresses(self) -> dict[str, str]:
        return {name: handle.address for name, handle in self.contracts.items()}

    def save(self, path: Path) -> None:
        payload: dict[str, Any] = {"chain_id": self.ledger.chain_id, "contracts": self.addresses()}
        if self.retired:
            payload["retired"] = self.retired
        if self.deployment_block:
            payload["deployment_block"] = self.deployment_block
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", "utf-8")

    @classmethod
    def load(cls, ledger: Ledger, path: Path) -> Consortium:
        payload = json.loads(path.read_text("utf-8"))
        handles = {
            name: ContractHandle.at(ledger, name, address)
            for name, address in payload["contracts"].items()
        }
        retired = dict(payload.get("retired", {}))
        return cls(ledger, handles, retired, int(payload.get("deployment_block", 0)))


def deploy_consortium(
    ledger: Ledger,
    deployer: Signer,
    operator: MemberSpec,
    committee: CommitteeSpec | None = None,
    node: NodeSpec | None = None,
    issuance_cap: int = DEFAULT_ISSUANCE_CAP,
) -> Consortium:
    """Deploy governance, registries and business contracts and wire them; admit ``operator``
    and put its ledger ``node`` on the allow-list; install ``committee``. Each financier may
    have ``issuance_cap`` fen outstanding until governance decides otherwise.

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
    business = deploy_business(ledger, deployer, governance, members)
    consortium.contracts.update(business)
    admission: list[Call] = [(members, "admitMember", operator_args)]
    if node is not None:  # run by the operator: the first member admitted, id 1
        admission.append((nodes, "addNode", (node.public_key, 1, node.endpoint)))
    pass_proposal(governance, deployer, admission, f"Admit the consortium operator {operator.name}")
    wiring = [
        *wiring_calls(business),
        (members, "setAccountListener", (business["SettlementToken"].address,)),
        (governance, "setParameter", (ISSUANCE_CAP_KEY, issuance_cap)),
    ]
    pass_proposal(governance, deployer, wiring, "Wire the business contracts")
    if committee is not None:
        pass_proposal(
            governance,
            deployer,
            _committee_calls(governance, deployer, committee),
            "Install the committee",
        )
    return consortium


# The business contracts, in dependency order: each runs behind a ConsortiumProxy whose address
# the others know (docs/decisions/0013). The registries and governance are deployed plainly.
UPGRADEABLE = (
    "InvoiceRegistry",
    "CreditLines",
    "SettlementToken",
    "CreditCertificates",
    "FinancingHub",
    "Maturity",
)


def implementation_arg_names(name: str) -> tuple[str, ...]:
    """The contracts whose addresses business contract ``name``'s implementation takes as
    constructor arguments, in order: governance and the contracts it calls (their proxies)."""
    gov, reg = "ConsortiumGovernance", "MemberRegistry"
    if name in ("InvoiceRegistry", "CreditLines", "SettlementToken"):
        return (gov, reg)
    if name == "CreditCertificates":
        return (gov, reg, "InvoiceRegistry", "CreditLines")
    if name == "FinancingHub":
        return (gov, reg, "CreditCertificates", "SettlementToken")
    if name == "Maturity":
        return (gov, "CreditCertificates", "SettlementToken")
    raise ValueError(f"{name} is not an upgradeable business contract")


def implementation_args(name: str, addresses: Mapping[str, str]) -> tuple[str, ...]:
    """Constructor arguments of business contract ``name``'s implementation: governance and
    the (proxy) addresses of the contracts it calls, which its code keeps as immutables. Every
    implementation of one proxy, first or upgraded, is built with the same ones."""
    return tuple(addresses[contract] for contract in implementation_arg_names(name))


def deploy_behind_proxy(ledger: Ledger, deployer: Signer, name: str, *args: Any) -> ContractHandle:
    """Deploy ``name``'s implementation with ``args`` and a ConsortiumProxy initialized to it;
    return a handle with ``name``'s ABI at the proxy's address."""
    implementation = deploy_contract(ledger, deployer, name, *args)
    proxy = deploy_contract(
        ledger,
        deployer,
        "ConsortiumProxy",
        implementation.address,
        implementation.encode("initialize"),
    )
    return ContractHandle(ledger, implementation.artifact, proxy.address)


def deploy_business(
    ledger: Ledger, deployer: Signer, governance: ContractHandle, members: ContractHandle
) -> dict[str, ContractHandle]:
    """The business contracts, InvoiceRegistry to Maturity, behind proxies, not wired yet."""
    addresses = {"ConsortiumGovernance": governance.address, "MemberRegistry": members.address}
    business: dict[str, ContractHandle] = {}
    for name in UPGRADEABLE:
        handle = deploy_behind_proxy(ledger, deployer, name, *implementation_args(name, addresses))
        business[name] = handle
        addresses[name] = handle.address
    return business


def wiring_calls(business: dict[str, ContractHandle]) -> list[Call]:
    """Who may call whom: each link is set once, by governance."""
    certificates = business["CreditCertificates"]
    hub, maturity = business["FinancingHub"], business["Maturity"]
    token = business["SettlementToken"]
    return [
        (business["InvoiceRegistry"], "setCertificates", (certificates.address,)),
        (business["CreditLines"], "setCertificates", (certificates.address,)),
        (certificates, "setFinancingHub", (hub.address,)),
        (certificates, "setMaturity", (maturity.address,)),
        (token, "setSystemContract", (hub.address, True)),
        (token, "setSystemContract", (maturity.address, True)),
    ]


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
