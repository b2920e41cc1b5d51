"""The indexer's overdue watch on the read model alone: which grace period it judges by,
the index its per-batch lookup rides, and migration 0009 over alerts raised before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from eth_utils.crypto import keccak
from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from api.readmodel.database import alembic_config, make_engine, migrate, session_factory
from api.readmodel.models import ChainEventRow, RootRow
from api.services.alert_watch import (
    GRACE_PERIOD_KEY,
    OVERDUE_PER_BATCH,
    grace_period,
    overdue_by,
    unraised_matured,
)
from tests.api.databases import fresh_database

DAY = 86_400
MATURITY = 1_800_000_000


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'watch.db'}")
    migrate(engine)
    with session_factory(engine)() as opened:
        yield opened
    engine.dispose()


def _parameter_set(session: Session, block: int, name: str, value: int) -> None:
    key = "0x" + keccak(text=name).hex()
    session.add(
        ChainEventRow(
            block_number=block,
            log_index=0,
            contract="ConsortiumGovernance",
            name="ParameterSet",
            transaction_hash="0x" + "ab" * 32,
            args_json=json.dumps({"key": key, "value": value}),
        )
    )
    session.flush()


def _root(session: Session, root_id: int, maturity: int, *, repaid: bool = False) -> None:
    session.add(
        RootRow(
            id=root_id,
            issuer_id=7,
            line_id=1,
            face_value=100_00,
            redeemed_value=0,
            maturity=maturity,
            repaid=repaid,
        )
    )
    session.flush()


def test_the_grace_period_is_the_last_one_governance_set(session: Session) -> None:
    assert grace_period(session) == 0  # never set: 0, as the contract reads it
    _parameter_set(session, 4, "GRACE_PERIOD", 5 * DAY)
    _parameter_set(session, 9, "GRACE_PERIOD", 2 * DAY)
    _parameter_set(session, 11, "MIN_SPLIT", 7)  # another parameter, set later
    assert grace_period(session) == 2 * DAY
    assert "0x" + keccak(text="GRACE_PERIOD").hex() == GRACE_PERIOD_KEY


def test_roots_are_overdue_from_maturity_plus_grace_unpaid_and_not_raised(
    session: Session,
) -> None:
    _parameter_set(session, 1, "GRACE_PERIOD", 2 * DAY)
    _root(session, 1, MATURITY)
    _root(session, 2, MATURITY - DAY)
    _root(session, 3, MATURITY - 2 * DAY, repaid=True)
    deadline = MATURITY + 2 * DAY
    assert [r.id for r in overdue_by(session, deadline - 1)] == [2]
    assert [r.id for r in overdue_by(session, deadline)] == [2, 1]  # oldest maturity first
    session.get_one(RootRow, 2).overdue_alerted = True
    assert [r.id for r in overdue_by(session, deadline)] == [1]


def test_a_grace_beyond_the_chain_time_finds_nothing(session: Session) -> None:
    _parameter_set(session, 1, "GRACE_PERIOD", 2**255)  # governance may set any uint256
    _root(session, 1, 0)
    assert overdue_by(session, MATURITY) == []


def test_the_lookup_reads_the_overdue_watch_index(session: Session) -> None:
    """Each batch looks up only unpaid, unraised roots matured by then: a range of the
    index, never a scan of every root (the plan is checked, not a timing)."""
    for root_id in range(1, 50):
        _root(session, root_id, MATURITY + root_id, repaid=root_id % 2 == 0)
    query = unraised_matured(MATURITY + 10).limit(OVERDUE_PER_BATCH)
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    plan = " | ".join(str(row[-1]) for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "SEARCH certificate_roots USING INDEX ix_certificate_roots_overdue_watch" in plan, plan
    assert "SCAN certificate_roots" not in plan, plan
    assert [r.id for r in session.scalars(query)] == [1, 3, 5, 7, 9]


def test_migration_0009_marks_the_roots_whose_overdue_alert_is_raised(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        engine = make_engine(url)
        try:
            command.upgrade(alembic_config(engine), "0008")
            with engine.begin() as connection:
                for root_id in (1, 2, 3):
                    connection.execute(
                        text(
                            "INSERT INTO certificate_roots (id, issuer_id, line_id, face_value, "
                            "redeemed_value, maturity, repaid, overdue) "
                            "VALUES (:id, 7, 1, 100, 0, 1000, false, :overdue)"
                        ),
                        {"id": root_id, "overdue": root_id != 3},
                    )
                connection.execute(  # root 1 raised by RootOverdue since 0008; root 2
                    text(  # marked before 0008, which raised nothing; root 3 unmarked
                        "INSERT INTO alerts (kind, dedupe_key, member_id, subject, "
                        "details_json, created_at, condition, severity) VALUES ('overdue', "
                        "'overdue:1', 7, 'root 1', '{}', 0, 'overdue:1', 'high')"
                    )
                )

            command.upgrade(alembic_config(engine), "head")
            with engine.connect() as connection:
                flags = connection.execute(
                    text("SELECT id, overdue_alerted FROM certificate_roots ORDER BY id")
                ).all()
            assert [(i, bool(f)) for i, f in flags] == [(1, True), (2, False), (3, False)]

            command.downgrade(alembic_config(engine), "0008")
            with engine.connect() as connection:
                assert (
                    connection.execute(text("SELECT count(*) FROM certificate_roots")).scalar() == 3
                )
        finally:
            engine.dispose()
