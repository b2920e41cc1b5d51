"""Request and response bodies of membership applications and committee governance."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from api.schemas.common import Amount, Hash32, Id, UtcDateTime
from chain.governance import MAX_VOTING_PERIOD_SECONDS

ProposalStateName = Literal["pending", "approved", "executed", "rejected", "expired", "revoked"]
RoleName = Literal["CORE_ENTERPRISE", "SUPPLIER", "FINANCIER", "AUDITOR"]
Address = Annotated[str, Field(pattern="^0x[0-9a-fA-F]{40}$", description="20 bytes, 0x-hex")]
UpgradeableContract = Literal[
    "InvoiceRegistry",
    "CreditLines",
    "SettlementToken",
    "CreditCertificates",
    "FinancingHub",
    "Maturity",
]  # chain.deploy.UPGRADEABLE
CallData = Annotated[
    str, Field(pattern="^0x(?:[0-9a-fA-F]{2}){0,4096}$", description="ABI calldata, 0x-hex")
]
Description = Annotated[
    str, Field(default="", max_length=500, description="what the committee is asked to decide")
]


def _plain_company_name(name: str) -> str:
    """A registered company name as people read it: printable characters only. Control,
    format (bidi overrides, zero-width) and unassigned code points are refused, never
    stripped, since they make one name look like another; so is markup."""
    for char in name:
        if unicodedata.category(char).startswith("C") or char in "<>":
            raise ValueError(
                f"a company name may not contain U+{ord(char):04X} "
                f"({unicodedata.name(char, 'unnamed')}): printable characters only, no markup"
            )
    return name


CompanyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    AfterValidator(_plain_company_name),
]

# ---- applications ------------------------------------------------------------------------


class ApplicationCreate(BaseModel):
    name: CompanyName = Field(description="the company's registered name")
    credit_code: str = Field(
        min_length=1,
        max_length=64,
        description="unified social credit code (统一社会信用代码), 18 characters, GB 32100-2015",
    )
    roles: list[RoleName] = Field(min_length=1, max_length=4)
    contact: str = Field(default="", max_length=1000, description="how the committee reaches you")


class ApplicationPublic(BaseModel):
    id: int
    name: str
    credit_code: str
    credit_code_hash: str
    roles: list[str]
    contact: str
    account: str = Field(description="the signing account the node created for the applicant")
    certificate_fingerprint: str | None = Field(description="SHA-256 of the X.509 certificate")
    proposal_id: int | None = Field(
        description="the admission proposal; null until a governor sponsors the application"
    )
    proposal_state: ProposalStateName | None
    status: Literal["pending", "admitted", "rejected"]
    member_id: int | None
    created_at: UtcDateTime


class ApplicationCreated(ApplicationPublic):
    api_key: str = Field(description="shown once; it works from the moment of admission")
    certificate_pem: str | None = Field(description="the member certificate, when a CA is set up")


class ApplicationList(BaseModel):
    items: list[ApplicationPublic]
    total: int
    limit: int
    offset: int


# ---- proposals ---------------------------------------------------------------------------


class AdmitMemberProposal(BaseModel):
    """Sponsor an application that is waiting for a governor (see the application route)."""

    kind: Literal["admit_member"]
    application_id: Id
    description: Description


class SuspendMemberProposal(BaseModel):
    kind: Literal["suspend_member"]
    member_id: Id
    description: Description


class ReinstateMemberProposal(BaseModel):
    kind: Literal["reinstate_member"]
    member_id: Id
    description: Description


class AddNodeProposal(BaseModel):
    kind: Literal["add_node"]
    public_key: str = Field(
        pattern="^0x[0-9a-fA-F]{128}$",
        description="the node's secp256k1 public key: 64 bytes, uncompressed, no 04 prefix",
    )
    owner_member_id: Id
    endpoint: str = Field(min_length=1, max_length=256, description="e.g. enode or https URL")
    description: Description


class RemoveNodeProposal(BaseModel):
    kind: Literal["remove_node"]
    node_id: Hash32 = Field(description="keccak-256 of the node's public key")
    description: Description


class SetParameterProposal(BaseModel):
    kind: Literal["set_parameter"]
    key: str = Field(
        pattern="^[A-Z][A-Z0-9_]{0,63}$",
        description="parameter name, e.g. MIN_SPLIT; the ledger keys it by keccak-256",
    )
    value: int = Field(
        ge=0,
        le=2**256 - 1,
        description="in the parameter's own unit: fen for amounts, seconds for periods",
    )
    description: Description


class SetGovernorProposal(BaseModel):
    kind: Literal["set_governor"]
    account: Address
    weight: int = Field(ge=0, le=2**64 - 1, description="0 removes the governor")
    description: Description


class SetThresholdsProposal(BaseModel):
    """The committee's decision rule (FISCO BCOS style): a proposal passes once the weight
    that voted reaches ``participation_percent`` of all weight and the weight for it
    reaches ``win_percent`` of the weight that voted."""

    kind: Literal["set_thresholds"]
    participation_percent: int = Field(ge=1, le=100)
    win_percent: int = Field(ge=1, le=100)
    description: Description


class SetVotingPeriodProposal(BaseModel):
    kind: Literal["set_voting_period"]
    voting_period_seconds: int = Field(
        ge=1,
        le=MAX_VOTING_PERIOD_SECONDS,
        description="how long proposals made from now on stay open",
    )
    description: Description


class SetIssuanceCapProposal(BaseModel):
    """A financier's own cap on its outstanding settlement-token issuance (minted minus
    burned); without one it follows the consortium-wide parameter ``ISSUANCE_CAP``."""

    kind: Literal["set_issuance_cap"]
    member_id: Id = Field(description="the financier")
    cap: Amount = Field(description="CNY, decimal string; 0 stops its minting")
    description: Description


class PauseProposal(BaseModel):
    kind: Literal["pause"]
    description: Description


class UnpauseProposal(BaseModel):
    kind: Literal["unpause"]
    description: Description


class UpgradeContractProposal(BaseModel):
    """Point a business contract's proxy at a new implementation (docs/decisions/0013). The
    proposal records the implementation's code hash, so the governors vote on exact bytecode;
    execution fails if the code at ``implementation`` hashes otherwise."""

    kind: Literal["upgrade_contract"]
    contract: UpgradeableContract
    implementation: Address = Field(
        description="the new implementation, deployed with the contract's immutables "
        "(`scf-node proposal deploy-implementation`)"
    )
    code_hash: Hash32 = Field(description="keccak-256 of the implementation's runtime code")
    call_data: CallData = Field(
        default="0x",
        description="run on the new code right after the switch, e.g. its `reinitializer`; "
        "0x for none",
    )
    description: Description


ProposalCreate = Annotated[
    AdmitMemberProposal
    | SuspendMemberProposal
    | ReinstateMemberProposal
    | AddNodeProposal
    | RemoveNodeProposal
    | SetParameterProposal
    | SetGovernorProposal
    | SetThresholdsProposal
    | SetVotingPeriodProposal
    | SetIssuanceCapProposal
    | PauseProposal
    | UnpauseProposal
    | UpgradeContractProposal,
    Field(discriminator="kind"),
]


class VoteCreate(BaseModel):
    support: Literal["for", "against", "abstain"] = Field(
        description="the ledger records for and against; abstaining is not voting (422)"
    )


class ProposalAction(BaseModel):
    contract: str
    function: str
    args: dict[str, Any]


class ProposalVote(BaseModel):
    governor: str
    member_id: int | None
    support: Literal["for", "against"]
    weight: int = Field(description="the governor's current weight")


class ExecutionError(BaseModel):
    error: str
    args: dict[str, Any]


class ProposalPublic(BaseModel):
    id: int
    kind: str
    description: str
    proposer: str
    proposer_member_id: int | None
    state: ProposalStateName
    created_at: UtcDateTime
    deadline: UtcDateTime = Field(description="votes are accepted until this moment")
    executable_until: UtcDateTime | None = Field(
        description="null until approved; an approved proposal whose execution failed may be "
        "retried with POST .../execute until this moment, then it is expired"
    )
    for_weight: int
    against_weight: int
    total_weight: int
    actions: list[ProposalAction]
    votes: list[ProposalVote]
    execution_error: ExecutionError | None = Field(
        default=None,
        description="why the approved actions failed to execute in this request (then the "
        "proposal stays approved and POST .../execute retries it)",
    )


class ProposalList(BaseModel):
    items: list[ProposalPublic]
    total: int
    limit: int
    offset: int


class CommitteeGovernor(BaseModel):
    account: str
    member_id: int | None = Field(description="the member the account is bound to, if any")
    weight: int


class CommitteePublic(BaseModel):
    """The committee as the ledger holds it now."""

    governors: list[CommitteeGovernor]
    total_weight: int
    participation_percent: int
    win_percent: int
    voting_period_seconds: int
    paused: bool
