"""Concentration alerts from the read model: a share over the threshold, among enough holders."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.models import CertificateRow, ExposureRow, RootRow
from api.services.alert_watch import ConcentrationRule
from api.services.alert_watch import concentration_alerts as found_by_rule
from api.services.alerts import NewAlert

CORE = 7


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'risk.db'}")
    migrate(engine)
    with session_factory(engine)() as opened:
        yield opened
    engine.dispose()


def _paper(session: Session, root_id: int, holdings: dict[int, int]) -> None:
    """A root of ``CORE`` of the holdings' total, split among the holders (member -> value)."""
    session.add(
        RootRow(
            id=root_id,
            issuer_id=CORE,
            line_id=1,
            face_value=sum(holdings.values()),
            redeemed_value=0,
            maturity=0,
        )
    )
    for offset, (holder_id, value) in enumerate(holdings.items()):
        session.add(
            CertificateRow(
                id=root_id * 100 + offset,
                root_id=root_id,
                parent_id=0 if offset == 0 else root_id * 100,
                issuer_id=CORE,
                holder_id=holder_id,
                value=value,
                locked=0,
                redeemed_value=0,
                maturity=0,
                created_block=1,
            )
        )
    session.flush()


def concentration_alerts(session: Session, share: Decimal, min_holders: int) -> list[NewAlert]:
    return found_by_rule(session, ConcentrationRule(share, min_holders))


def test_a_first_certificate_with_its_one_holder_is_no_finding(session: Session) -> None:
    _paper(session, 1, {21: 100_000_00})
    assert concentration_alerts(session, Decimal("0.5"), min_holders=2) == []
    [alert] = concentration_alerts(session, Decimal("0.5"), min_holders=1)  # if configured so
    assert (alert.member_id, alert.details["share"]) == (21, "1.0000")


def test_a_holder_over_the_share_among_enough_holders_is_found(session: Session) -> None:
    _paper(session, 1, {21: 60_000_00, 22: 30_000_00, 23: 10_000_00})
    [alert] = concentration_alerts(session, Decimal("0.5"), min_holders=3)
    assert alert.member_id == 21
    assert alert.details["holder_value"] == "60000.00"
    assert alert.details["issuer_outstanding"] == "100000.00"
    assert alert.audience == {21, CORE}  # the holder, and the issuer, who sees its holders
    assert concentration_alerts(session, Decimal("0.6"), min_holders=3) == []  # not over 60 %
    assert concentration_alerts(session, Decimal("0.5"), min_holders=4) == []  # too few holders


def test_the_indexers_check_of_some_issuers_reads_their_exposure_rows(session: Session) -> None:
    """The watch's per-batch check reads the exposures the projections keep (an issuer's
    few rows), not its certificates; the check of every issuer sums the certificates."""
    _paper(session, 1, {21: 60_000_00, 22: 40_000_00})  # certificates, and no exposure row
    rule = ConcentrationRule(Decimal("0.5"), min_holders=2)
    assert found_by_rule(session, rule, issuer_ids=frozenset({CORE})) == []
    session.add_all(
        [
            ExposureRow(issuer_id=CORE, holder_id=21, value=30_000_00),
            ExposureRow(issuer_id=CORE, holder_id=22, value=70_000_00),
            ExposureRow(issuer_id=CORE, holder_id=23, value=0),  # held once: no holder
            ExposureRow(issuer_id=CORE + 1, holder_id=21, value=1),  # not asked about
        ]
    )
    session.flush()
    [alert] = found_by_rule(session, rule, issuer_ids=frozenset({CORE}))
    assert (alert.member_id, alert.details["issuer_outstanding"]) == (22, "100000.00")
    [alert] = found_by_rule(session, rule)
    assert (alert.member_id, alert.details["holder_value"]) == (21, "60000.00")
