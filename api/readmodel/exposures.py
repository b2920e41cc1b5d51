"""What each holder holds of each issuer's paper: the live certificates of roots not yet
repaid, summed per (issuer, holder). The projections keep it in ``exposures`` event by
event; ``outstanding_by_holder`` is its definition over the certificates, which
``exposure_differences`` checks the kept rows against."""

from __future__ import annotations

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from api.readmodel.models import CertificateRow, ExposureRow, RootRow


def outstanding_by_holder() -> Select[int, int, int]:
    """(issuer, holder, value) of live certificates of roots not yet repaid."""
    return (
        select(
            CertificateRow.issuer_id,
            CertificateRow.holder_id,
            func.sum(CertificateRow.value),
        )
        .join(RootRow, RootRow.id == CertificateRow.root_id)
        .where(CertificateRow.value > 0, RootRow.repaid == false())
        .group_by(CertificateRow.issuer_id, CertificateRow.holder_id)
    )


def exposure_differences(session: Session) -> list[str]:
    """Where the kept exposure rows differ from ``outstanding_by_holder``, one line per
    (issuer, holder); an empty list means they agree."""
    summed = {(i, h): int(v) for i, h, v in session.execute(outstanding_by_holder())}
    kept = {
        (row.issuer_id, row.holder_id): row.value
        for row in session.scalars(select(ExposureRow).where(ExposureRow.value != 0))
    }
    return [
        f"exposure of member {holder} to member {issuer}: certificates sum to "
        f"{summed.get((issuer, holder), 0)}, the exposure row has {kept.get((issuer, holder), 0)}"
        for issuer, holder in sorted(summed.keys() | kept.keys())
        if summed.get((issuer, holder), 0) != kept.get((issuer, holder), 0)
    ]
