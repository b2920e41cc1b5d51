"""Risk reports from the read model: exposures and the aging of outstanding certificates.

Outstanding means live value (not redeemed) of a root its issuer has not repaid yet.
Value of a repaid root that its holder has not redeemed is no longer the issuer's
credit risk; it is reported apart as ``repaid_unredeemed``. "Now" is the ledger's head
time, never the wall clock, so development time travel ages certificates too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.readmodel.exposures import outstanding_by_holder
from api.readmodel.models import CertificateRow, CreditLineRow, MemberRow, RootRow
from api.readmodel.projections import ROLE_BITS
from api.services.api_keys import ForbiddenError
from api.services.visibility import is_auditor
from chain.roles import Role

DAY = 86_400
CORE_BIT = ROLE_BITS[Role.CORE_ENTERPRISE.id]
FINANCIER_BIT = ROLE_BITS[Role.FINANCIER.id]

NOT_DUE = "not_due"
REPAID_UNREDEEMED = "repaid_unredeemed"
# (bucket, the last day overdue it holds); days overdue count from the maturity instant
OVERDUE_BUCKETS = (
    ("overdue_0_30", 30),
    ("overdue_31_60", 60),
    ("overdue_61_90", 90),
    ("overdue_over_90", None),
)
BUCKETS = (NOT_DUE, *(name for name, _ in OVERDUE_BUCKETS), REPAID_UNREDEEMED)


@dataclass
class CoreExposure:
    member_id: int
    name: str
    outstanding: int = 0
    live_certificates: int = 0
    repaid_unredeemed: int = 0
    credit_limit: int = 0  # of open lines
    credit_used: int = 0  # of every line: a closed line's draws are still owed


@dataclass
class FinancierExposure:
    member_id: int
    name: str
    holdings: dict[int, int] = field(default_factory=dict)  # issuer id -> outstanding held
    credit_granted: int = 0  # limits of open lines
    credit_used: int = 0


@dataclass(frozen=True)
class Exposures:
    as_of: int
    core_enterprises: list[CoreExposure]
    financiers: list[FinancierExposure]


def exposures(session: Session, member: MemberRow, now: int) -> Exposures:
    """Auditors: every core enterprise and financier. A core enterprise its own exposure,
    a financier its own; anyone else is refused (403)."""
    auditor = is_auditor(member)
    if not auditor and not member.roles & (CORE_BIT | FINANCIER_BIT):
        raise ForbiddenError("exposures are for core enterprises, financiers and auditors")
    members = select(MemberRow).order_by(MemberRow.id)
    if not auditor:
        members = members.where(MemberRow.id == member.id)
    rows = session.scalars(members).all()
    cores = {m.id: CoreExposure(m.id, m.name) for m in rows if m.roles & CORE_BIT}
    financiers = {m.id: FinancierExposure(m.id, m.name) for m in rows if m.roles & FINANCIER_BIT}

    for issuer_id, holder_id, value in session.execute(outstanding_by_holder()):
        if issuer_id in cores:
            cores[issuer_id].outstanding += int(value)
        if holder_id in financiers:
            financiers[holder_id].holdings[issuer_id] = int(value)
    live = (
        select(
            CertificateRow.issuer_id,
            RootRow.repaid,
            func.count(CertificateRow.id),
            func.sum(CertificateRow.value),
        )
        .join(RootRow, RootRow.id == CertificateRow.root_id)
        .where(CertificateRow.value > 0, CertificateRow.issuer_id.in_(cores))
        .group_by(CertificateRow.issuer_id, RootRow.repaid)
    )
    for issuer_id, repaid, count, value in session.execute(live):
        if repaid:
            cores[issuer_id].repaid_unredeemed += int(value)
        else:
            cores[issuer_id].live_certificates += int(count)

    lines = select(CreditLineRow).where(
        or_(CreditLineRow.borrower_id.in_(cores), CreditLineRow.financier_id.in_(financiers))
    )
    for line in session.scalars(lines):
        is_open = line.status == "open"
        if line.borrower_id in cores:
            cores[line.borrower_id].credit_limit += line.limit if is_open else 0
            cores[line.borrower_id].credit_used += line.used
        if line.financier_id in financiers:
            financiers[line.financier_id].credit_granted += line.limit if is_open else 0
            financiers[line.financier_id].credit_used += line.used
    return Exposures(now, list(cores.values()), list(financiers.values()))


@dataclass(frozen=True)
class AgedCertificate:
    certificate_id: int
    root_id: int
    issuer_id: int
    holder_id: int
    value: int
    maturity: int
    days_past_maturity: int  # negative: days still to go
    bucket: str
    repaid: bool
    marked_overdue: bool  # the ledger's RootOverdue, after the grace period


def bucket_of(days_past_maturity: int, *, repaid: bool) -> str:
    if repaid:
        return REPAID_UNREDEEMED
    if days_past_maturity < 0:
        return NOT_DUE
    for name, last_day in OVERDUE_BUCKETS:
        if last_day is None or days_past_maturity <= last_day:
            return name
    raise AssertionError("the last bucket is open-ended")


def aging(session: Session, member: MemberRow, now: int) -> list[AgedCertificate]:
    """Outstanding certificates the member holds or issued (auditors: all), by id."""
    query = (
        select(CertificateRow, RootRow.repaid, RootRow.overdue)
        .join(RootRow, RootRow.id == CertificateRow.root_id)
        .where(CertificateRow.value > 0)
        .order_by(CertificateRow.id)
    )
    if not is_auditor(member):
        query = query.where(
            or_(CertificateRow.holder_id == member.id, CertificateRow.issuer_id == member.id)
        )
    aged = []
    for certificate, repaid, overdue in session.execute(query):
        days = (now - certificate.maturity) // DAY  # floor: the day of maturity is day 0
        aged.append(
            AgedCertificate(
                certificate_id=certificate.id,
                root_id=certificate.root_id,
                issuer_id=certificate.issuer_id,
                holder_id=certificate.holder_id,
                value=certificate.value,
                maturity=certificate.maturity,
                days_past_maturity=days,
                bucket=bucket_of(days, repaid=repaid),
                repaid=repaid,
                marked_overdue=overdue,
            )
        )
    return aged


def bucket_totals(aged: list[AgedCertificate]) -> dict[str, tuple[int, int]]:
    """(certificates, value) per bucket, every bucket present, in ``BUCKETS`` order."""
    totals = dict.fromkeys(BUCKETS, (0, 0))
    for item in aged:
        count, value = totals[item.bucket]
        totals[item.bucket] = (count + 1, value + item.value)
    return totals
