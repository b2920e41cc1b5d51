"""Risk: exposures, aging of outstanding certificates, and alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.money import format_amount
from api.readmodel.models import AlertRow
from api.readmodel.paging import fetch_page
from api.schemas.common import CanonicalInt, Offset
from api.schemas.risk import (
    AgedCertificatePublic,
    AgingReport,
    AlertList,
    BucketTotal,
    CoreExposurePublic,
    ExposureReport,
    FinancierExposurePublic,
    HoldingPublic,
)
from api.services.alerts import KINDS, alert_public, alerts_listed_for
from api.services.container import services_of
from api.services.risk import BUCKETS, aging, bucket_totals, exposures
from api.wire import utc_datetime, utc_day

router = APIRouter(
    prefix="/v1/risk",
    tags=["risk"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)


def ledger_now(request: Request) -> int:
    """The head block's time: the ledger's clock, which development time travel moves."""
    return int(services_of(request.app).ledger.get_block("latest")["timestamp"])


LedgerNow = Annotated[int, Depends(ledger_now)]


@router.get("/exposures", response_model=ExposureReport)
def read_exposures(member: CurrentMember, session: SessionDep, now: LedgerNow) -> ExposureReport:
    """Per core enterprise: outstanding value and credit lines; per financier: paper held by
    issuer and lines granted. Auditors see all; a core enterprise or financier its own."""
    report = exposures(session, member, now)
    return ExposureReport(
        as_of=utc_datetime(report.as_of),
        core_enterprises=[
            CoreExposurePublic(
                member_id=c.member_id,
                name=c.name,
                outstanding=format_amount(c.outstanding),
                live_certificates=c.live_certificates,
                repaid_unredeemed=format_amount(c.repaid_unredeemed),
                credit_limit=format_amount(c.credit_limit),
                credit_used=format_amount(c.credit_used),
                credit_available=format_amount(max(c.credit_limit - c.credit_used, 0)),
            )
            for c in report.core_enterprises
        ],
        financiers=[
            FinancierExposurePublic(
                member_id=f.member_id,
                name=f.name,
                holdings=[
                    HoldingPublic(issuer_id=i, value=format_amount(v))
                    for i, v in sorted(f.holdings.items())
                ],
                holdings_total=format_amount(sum(f.holdings.values())),
                credit_granted=format_amount(f.credit_granted),
                credit_used=format_amount(f.credit_used),
            )
            for f in report.financiers
        ],
    )


@router.get("/overdue", response_model=AgingReport)
def read_overdue(
    member: CurrentMember,
    session: SessionDep,
    now: LedgerNow,
    bucket: Annotated[str | None, Query(pattern="^(" + "|".join(BUCKETS) + ")$")] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> AgingReport:
    """Outstanding certificates you hold or issued (auditors: all) in aging buckets by days
    past maturity at the ledger's time: not due, 0-30, 31-60, 61-90, over 90 days overdue,
    and repaid but not yet redeemed."""
    aged = aging(session, member, now)
    shown = [a for a in aged if bucket is None or a.bucket == bucket]
    return AgingReport(
        as_of=utc_datetime(now),
        buckets=[
            BucketTotal(bucket=name, certificates=count, value=format_amount(value))
            for name, (count, value) in bucket_totals(aged).items()
        ],
        items=[
            AgedCertificatePublic(
                certificate_id=a.certificate_id,
                root_id=a.root_id,
                issuer_id=a.issuer_id,
                holder_id=a.holder_id,
                value=format_amount(a.value),
                maturity=utc_day(a.maturity),
                days_past_maturity=a.days_past_maturity,
                bucket=a.bucket,
                repaid=a.repaid,
                overdue=a.marked_overdue,
            )
            for a in shown[offset : offset + limit]
        ],
        total=len(shown),
        limit=limit,
        offset=offset,
    )


@router.get("/alerts", response_model=AlertList)
def list_alerts(
    member: CurrentMember,
    session: SessionDep,
    kind: Annotated[str | None, Query(pattern="^(" + "|".join(KINDS) + ")$")] = None,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> AlertList:
    """Duplicate-invoice attempts, circular transfers, concentration and overdue roots,
    oldest first, as raised when their cause was indexed (each also streamed as a
    ``RiskAlert`` event). Auditors see all; a member the alerts it is in the audience of."""
    query = alerts_listed_for(member, kind)
    rows, total = fetch_page(session, query, AlertRow.id, limit=limit, offset=offset)
    return AlertList(items=[alert_public(r) for r in rows], total=total, limit=limit, offset=offset)
