"""Which members may see a chain event: the audience behind SSE and webhooks.

The rule mirrors object-level authorization (``api.services.visibility``): an event
is seen by the parties of the object it changes, auditors see every event.

- invoices: seller and buyer;
- credit lines: financier and borrower;
- certificates: issuer (of the root) and holder; a split also its sender (the
  parent's holder); a root's repayment or overdue mark goes to its issuer, every
  holder in its tree and the financier of the line it drew on;
- financing requests: requester and financier;
- settlement tokens: the members behind the ``from`` / ``to`` accounts (a
  contract's escrow account is nobody's), and the minting / burning financier;
- a member's accounts and certificate fingerprint: that member only.

Public within the consortium, decided on purpose: the membership directory
(admitted, suspended, reinstated, roles; ``GET /v1/members`` shows the same to
every member), governance (proposals, votes, governors, thresholds, parameters, issuance caps,
pause), the node allow-list and the contracts' wiring. They are how the committee
runs the consortium, and every member is entitled to watch that.

Anything not listed, or an event whose object the read model lacks, is for
auditors only: an unknown event never leaks. Parties are looked up in the read
model; they never change once an object exists, so the answer does not depend on
when it is asked. One limit: settlement ``Transfer`` and ``Approval`` name
accounts, and an account unbound from its member later no longer maps to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.readmodel.models import (
    CertificateRow,
    CreditLineRow,
    FinancingRequestRow,
    InvoiceRow,
    MemberAccountRow,
    RootRow,
)


@dataclass(frozen=True)
class Viewer:
    """Who watches events: a member id and whether it reads everything (auditor)."""

    member_id: int
    auditor: bool


@dataclass(frozen=True)
class Audience:
    """Members who may see one event (auditors always may)."""

    public: bool = False
    members: frozenset[int] = frozenset()

    def admits(self, viewer: Viewer) -> bool:
        return viewer.auditor or self.public or viewer.member_id in self.members


PUBLIC = Audience(public=True)
AUDITORS_ONLY = Audience()

PUBLIC_EVENTS = frozenset(
    {
        # membership directory
        "MemberAdmitted",
        "MemberSuspended",
        "MemberReinstated",
        "MemberRoleGranted",
        "MemberRoleRevoked",
        # governance
        "GovernorSet",
        "ParameterSet",
        "Paused",
        "Unpaused",
        "ProposalCreated",
        "ProposalApproved",
        "ProposalExecuted",
        "ProposalExecutionFailed",
        "ProposalRejected",
        "ProposalRevoked",
        "ProposalRetallied",
        "SettlementIssuanceCapSet",
        "ThresholdsSet",
        "VoteCast",
        "VotingPeriodSet",
        # ledger nodes
        "NodeAdded",
        "NodeEndpointUpdated",
        "NodeRemoved",
        # wiring of the contracts
        "InvoiceCertificatesSet",
        "CreditLineCertificatesSet",
        "CertificateFinancingHubSet",
        "CertificateMaturitySet",
        "MemberAccountListenerSet",
        "SystemContractSet",
        # a business contract's code switched by an upgrade proposal (decisions/0013)
        "Upgraded",
        "Initialized",
    }
)

Args = Mapping[str, Any]
Resolver = Callable[[Session, Args], Audience]


def parties(*member_ids: int | None) -> Audience:
    return Audience(members=frozenset(int(m) for m in member_ids if m))


def event_audience(session: Session, name: str, args: Args) -> Audience:
    """The audience of event ``name`` with decoded (JSON) ``args``."""
    if name in PUBLIC_EVENTS:
        return PUBLIC
    resolver = _RESOLVERS.get(name)
    return AUDITORS_ONLY if resolver is None else resolver(session, args)


# ---- resolvers, by object ---------------------------------------------------------------


def _own_member(session: Session, a: Args) -> Audience:
    return parties(a["memberId"])


def _invoice_registered(session: Session, a: Args) -> Audience:
    return parties(a["sellerId"], a["buyerId"])


def _invoice(session: Session, a: Args) -> Audience:
    row = session.get(InvoiceRow, str(a["key"]).lower())
    return AUDITORS_ONLY if row is None else parties(row.seller_id, row.buyer_id)


def _line_granted(session: Session, a: Args) -> Audience:
    return parties(a["financierId"], a["borrowerId"])


def _line(session: Session, a: Args) -> Audience:
    row = session.get(CreditLineRow, a["lineId"])
    return AUDITORS_ONLY if row is None else parties(row.financier_id, row.borrower_id)


def _certificate_issued(session: Session, a: Args) -> Audience:
    return parties(a["issuerId"], a["holderId"])


def _certificate_split(session: Session, a: Args) -> Audience:
    source = session.get(CertificateRow, a["sourceId"])
    issuer = None if source is None else source.issuer_id
    return parties(a["fromId"], a["toId"], issuer)


def _certificate(session: Session, a: Args) -> Audience:
    row = session.get(CertificateRow, a["id"])
    return AUDITORS_ONLY if row is None else parties(row.holder_id, row.issuer_id)


def _certificate_redeemed(session: Session, a: Args) -> Audience:
    root = session.get(RootRow, a["rootId"])
    return parties(a["holderId"], None if root is None else root.issuer_id)


def _root(session: Session, a: Args) -> Audience:
    root = session.get(RootRow, a["rootId"])
    if root is None:
        return AUDITORS_ONLY
    holders = session.scalars(
        select(CertificateRow.holder_id).where(CertificateRow.root_id == root.id).distinct()
    ).all()
    line = session.get(CreditLineRow, root.line_id)
    return parties(root.issuer_id, None if line is None else line.financier_id, *holders)


def _financing_requested(session: Session, a: Args) -> Audience:
    return parties(a["requesterId"], a["financierId"])


def _financing(session: Session, a: Args) -> Audience:
    row = session.get(FinancingRequestRow, a["requestId"])
    return AUDITORS_ONLY if row is None else parties(row.requester_id, row.financier_id)


def _member_of(session: Session, account: Any) -> int | None:
    row = session.get(MemberAccountRow, str(account))
    return None if row is None else row.member_id


def _token_transfer(session: Session, a: Args) -> Audience:
    return parties(_member_of(session, a["from"]), _member_of(session, a["to"]))


def _token_approval(session: Session, a: Args) -> Audience:
    return parties(_member_of(session, a["owner"]), _member_of(session, a["spender"]))


def _minted(session: Session, a: Args) -> Audience:
    return parties(a["financierId"], _member_of(session, a["to"]))


def _burned(session: Session, a: Args) -> Audience:
    return parties(a["financierId"], _member_of(session, a["from"]))


_RESOLVERS: dict[str, Resolver] = {
    "MemberAccountBound": _own_member,
    "MemberAccountUnbound": _own_member,
    "MemberCertificateUpdated": _own_member,
    "SettlementBalanceMigrated": _own_member,
    "InvoiceRegistered": _invoice_registered,
    "InvoiceConfirmed": _invoice,
    "InvoiceDisputed": _invoice,
    "InvoiceCancelled": _invoice,
    "InvoiceAssigned": _invoice,
    "CreditLineGranted": _line_granted,
    "CreditLineLimitChanged": _line,
    "CreditLineClosed": _line,
    "CreditLineDrawn": _line,
    "CreditLineRestored": _line,
    "CertificateIssued": _certificate_issued,
    "CertificateSplit": _certificate_split,
    "CertificateValueLocked": _certificate,
    "CertificateValueUnlocked": _certificate,
    "CertificateRedeemed": _certificate_redeemed,
    "RootRepaid": _root,
    "RootOverdue": _root,
    "FinancingRequested": _financing_requested,
    "FinancingApproved": _financing,
    "FinancingRejected": _financing,
    "FinancingCancelled": _financing,
    "FinancingExpired": _financing,
    "Transfer": _token_transfer,
    "Approval": _token_approval,
    "SettlementMinted": _minted,
    "SettlementBurned": _burned,
}
