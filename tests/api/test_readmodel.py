"""The indexer projects chain events into SQL in order, idempotently, and reconciles."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel import projections
from api.readmodel.database import alembic_config, make_engine, migrate, session_factory
from api.readmodel.exposures import exposure_differences
from api.readmodel.indexer import Indexer
from api.readmodel.models import (
    CertificateRow,
    ChainEventRow,
    CreditLineRow,
    ExposureRow,
    FinancingRequestRow,
    InvoiceRow,
    MemberAccountRow,
    MemberRow,
)
from api.readmodel.reconcile import reconcile
from chain.events import EventDecoder
from tests.api.conftest import WorldTemplate
from tests.helpers import (
    DAY,
    World,
    approve_financing,
    approve_tokens,
    issue_certificate,
    mint,
    request_financing,
    root,
    split,
    suspend,
    travel_to,
)

FACE = 1_000_000_00


@pytest.fixture
def world(world_template: WorldTemplate) -> Iterator[World]:
    """The worker's world as it was built, undone again afterwards."""
    yield world_template.restore()
    world_template.restore()


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'read.db'}")
    migrate(engine)
    return session_factory(engine)


def _indexer(world: World, sessions: sessionmaker[Session], batch: int = 500) -> Indexer:
    return Indexer(sessions, world.ledger, EventDecoder(world.consortium), batch_blocks=batch)


def test_business_flow_is_projected_and_reconciles(
    world: World, sessions: sessionmaker[Session]
) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    a = split(world, world.tier1, root_id, world.tier2, 400_000_00)
    b = split(world, world.tier2, a, world.tier3, 100_000_00)
    request_id = request_financing(world, world.tier3, b, world.bank, 60_000_00)
    suspend(world, world.tier1)

    indexer = _indexer(world, sessions, batch=7)  # several batches
    assert indexer.sync() > 0
    assert indexer.lag() == 0
    with sessions() as session:
        names = {m.name: m for m in session.scalars(select(MemberRow))}
        assert names["Tier-1 Parts Ltd"].status == "suspended"
        assert names["First Bank"].roles == 4
        account = session.get(MemberAccountRow, world.tier3.address)
        assert account is not None
        assert account.member_id == world.tier3.id
        rows = {c.id: c for c in session.scalars(select(CertificateRow))}
        assert (rows[root_id].value, rows[a].value, rows[b].value) == (
            600_000_00,
            300_000_00,
            100_000_00,
        )
        assert (rows[b].parent_id, rows[b].root_id, rows[b].holder_id) == (
            a,
            root_id,
            world.tier3.id,
        )
        assert rows[b].locked == 60_000_00
        (invoice,) = session.scalars(select(InvoiceRow))
        assert (invoice.status, invoice.certificate_id) == ("assigned", root_id)
        request = session.get(FinancingRequestRow, request_id)
        assert request is not None
        assert request.status == "pending"
        assert reconcile(session, world.consortium) == []


def test_sync_is_idempotent_and_resumes(world: World, sessions: sessionmaker[Session]) -> None:
    indexer = _indexer(world, sessions)
    first = indexer.sync()
    with sessions() as session:
        stored = len(session.scalars(select(ChainEventRow)).all())
    assert stored == first
    assert indexer.sync() == 0  # nothing new, nothing applied twice

    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    assert _indexer(world, sessions).sync() > 0  # a new indexer resumes at the cursor
    with sessions() as session:
        assert session.get(CertificateRow, root_id) is not None
        assert len(session.scalars(select(ChainEventRow)).all()) > stored
        assert reconcile(session, world.consortium) == []


def test_a_new_read_model_starts_at_the_deployment_block(
    world: World, sessions: sessionmaker[Session]
) -> None:
    """On a long-lived external network the blocks before the deployment hold nothing of
    the consortium: a new read model does not read them (``Consortium.deployment_block``)."""
    first_block = world.ledger.block_number() + 1  # the deployment's events lie before it
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    decoder = EventDecoder(world.consortium)
    indexer = Indexer(sessions, world.ledger, decoder, first_block=first_block)
    assert indexer.sync() > 0
    with sessions() as session:
        events = session.scalars(select(ChainEventRow)).all()
        assert min(e.block_number for e in events) >= first_block
        assert "CertificateIssued" in {e.name for e in events}
        assert session.get(CertificateRow, root_id) is not None
    assert indexer.cursor()[0] == world.ledger.block_number()
    resumed = Indexer(sessions, world.ledger, decoder, first_block=first_block)
    assert resumed.sync() == 0  # the cursor, past the first block, says where to go on


def test_an_indexer_behind_another_on_the_same_database_keeps_its_cursor(
    world: World, sessions: sessionmaker[Session]
) -> None:
    behind, ahead = _indexer(world, sessions), _indexer(world, sessions)
    behind.sync()
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    middle = world.ledger.block_number()
    split(world, world.tier1, root_id, world.tier2, 100_000_00)
    ahead.sync()
    assert behind.sync(middle) == 0  # applied by the other one: skipped, not again
    assert behind.cursor() == ahead.cursor()
    assert behind.cursor()[0] == world.ledger.block_number()
    assert behind.sync() == 0
    with sessions() as session:
        assert reconcile(session, world.consortium) == []


def test_syncs_queued_behind_one_another_are_served_in_one_range(
    world: World, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    indexer = _indexer(world, sessions)
    indexer.sync()
    before = world.ledger.block_number()
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    first = world.ledger.block_number()
    split(world, world.tier1, root_id, world.tier2, 100_000_00)
    second = world.ledger.block_number()
    ranges: list[tuple[int, int]] = []
    apply_range = indexer._apply_range

    def counted(start: int, end: int) -> int:
        ranges.append((start, end))
        return apply_range(start, end)

    monkeypatch.setattr(indexer, "_apply_range", counted)
    with indexer._lock:  # a sync in progress: both requests queue behind it
        waiters = [threading.Thread(target=indexer.sync, args=(b,)) for b in (first, second)]
        for waiter in waiters:
            waiter.start()
        deadline = time.monotonic() + 10
        while indexer._wanted < second and time.monotonic() < deadline:
            time.sleep(0.01)
    for waiter in waiters:
        waiter.join()
    assert ranges == [(before + 1, second)]  # one range for both, not one each
    with sessions() as session:
        assert reconcile(session, world.consortium) == []


def test_a_split_between_other_changes_of_its_source_in_one_batch(
    world: World, sessions: sessionmaker[Session]
) -> None:
    """The split is written with SQL of its own: changes to its source made through the
    session before and after it (a lock, a second split, an unlock) all land."""
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    request_id = request_financing(world, world.tier1, root_id, world.bank, 200_000_00)
    first = split(world, world.tier1, root_id, world.tier2, 100_000_00)
    second = split(world, world.tier1, root_id, world.tier3, 50_000_00)
    world.consortium.financing.transact(world.tier1.signer, "cancelFinancing", request_id)
    _indexer(world, sessions).sync()  # one batch
    with sessions() as session:
        rows = {c.id: c for c in session.scalars(select(CertificateRow))}
        assert (rows[root_id].value, rows[root_id].locked) == (850_000_00, 0)
        assert (rows[first].value, rows[second].value) == (100_000_00, 50_000_00)
        assert reconcile(session, world.consortium) == []


def test_a_failing_batch_leaves_nothing_and_the_cursor_unmoved(
    world: World, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    issue_certificate(world, world.core, world.tier1, FACE)
    indexer = _indexer(world, sessions, batch=10_000)

    def broken(session: Session, event: object) -> None:
        raise RuntimeError("projection bug")

    with monkeypatch.context() as patch:
        patch.setitem(projections.HANDLERS, "CertificateIssued", broken)
        with pytest.raises(RuntimeError, match="projection bug"):
            indexer.sync()
    assert indexer.cursor() == (-1, -1)
    with sessions() as session:
        assert session.scalars(select(MemberRow)).first() is None
    assert indexer.sync() > 0
    with sessions() as session:
        assert reconcile(session, world.consortium) == []


def test_reconcile_names_what_differs(world: World, sessions: sessionmaker[Session]) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    _indexer(world, sessions).sync()
    with sessions.begin() as session:
        row = session.get(CertificateRow, root_id)
        assert row is not None
        row.value -= 1
        member = session.get(MemberRow, world.bank2.id)
        assert member is not None
        member.status = "suspended"
    with sessions() as session:
        problems = reconcile(session, world.consortium)
    assert any(p.startswith(f"certificate {root_id}: chain has") for p in problems)
    assert (
        f"member {world.bank2.id}: chain has (status, roles)=('active', 4), "
        "read model has ('suspended', 4)" in problems
    )


def test_reconcile_checks_invoices_lines_and_requests_at_the_indexed_block(
    world: World, sessions: sessionmaker[Session]
) -> None:
    root_id = issue_certificate(world, world.core, world.tier1, FACE)
    request_id = request_financing(world, world.tier1, root_id, world.bank, 10_000_00)
    _indexer(world, sessions).sync()
    # the ledger moves on after the indexer's pass: not a difference, the read model is
    # compared with the chain as far as it has followed it
    split(world, world.tier1, root_id, world.tier2, 1_000_00)
    with sessions() as session:
        assert reconcile(session, world.consortium) == []
    with sessions.begin() as session:
        invoice = session.scalars(select(InvoiceRow)).first()
        assert invoice is not None
        invoice.status = "confirmed"
        request = session.get(FinancingRequestRow, request_id)
        assert request is not None
        request.status = "approved"
        line = session.scalars(select(CreditLineRow)).first()
        assert line is not None
        line.used += 1
    with sessions() as session:
        problems = reconcile(session, world.consortium)
    assert [p.split(":")[0].rsplit(" ", 1)[0] for p in problems] == [
        "invoice",
        "credit line",
        "financing request",
    ], problems


def test_migrations_match_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from api.readmodel.models import Base

    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models changed without a migration: {diff}"


def _exposures(sessions: sessionmaker[Session]) -> dict[tuple[int, int], int]:
    with sessions() as session:
        rows = session.scalars(select(ExposureRow)).all()
        return {(r.issuer_id, r.holder_id): r.value for r in rows if r.value}


def _live(sessions: sessionmaker[Session]) -> list[CertificateRow]:
    with sessions() as session:
        query = select(CertificateRow).where(CertificateRow.value > 0)
        return list(session.scalars(query.order_by(CertificateRow.id)))


def test_the_exposures_kept_event_by_event_equal_the_certificates_summed(
    world: World, sessions: sessionmaker[Session]
) -> None:
    """Issues, splits (a financing's among them), an early repayment, a split of the repaid
    root, redemptions: after every step the kept exposure rows equal the group-by over the
    certificates, and a migration from 0009 fills the same rows."""
    indexer = _indexer(world, sessions, batch=3)  # batches that cut steps in two

    def in_step() -> None:
        indexer.sync()
        with sessions() as session:
            assert exposure_differences(session) == []
            assert reconcile(session, world.consortium) == []

    members = {m.id: m for m in (world.tier1, world.tier2, world.tier3)}
    soon = issue_certificate(world, world.core, world.tier1, FACE, maturity_in=30 * DAY)
    issue_certificate(world, world.core, world.tier2, FACE, maturity_in=60 * DAY)
    issue_certificate(world, world.core2, world.tier3, FACE // 2, maturity_in=60 * DAY)
    in_step()
    pick = random.Random(11)
    for _ in range(4):
        for _ in range(pick.randrange(1, 5)):  # splits indexed together
            source = pick.choice([c for c in _live(sessions) if c.value >= 20_000_00])
            to = pick.choice([m for m in members.values() if m.id != source.holder_id])
            amount = pick.randrange(1, source.value // 10_000_00) * 10_000_00
            split(world, members[source.holder_id], source.id, to, amount)
            indexer.sync()
        in_step()
    assert len(_exposures(sessions)) >= 4

    # a financing moves paper to the bank: a split of a locked certificate
    mint(world, world.bank, world.bank, FACE)
    approve_tokens(world, world.bank, world.consortium.financing.address, FACE)
    financed = next(c for c in _live(sessions) if c.issuer_id == world.core.id)
    holder = members[financed.holder_id]
    request_id = request_financing(world, holder, financed.id, world.bank, 10_000_00)
    approve_financing(world, world.bank, request_id, 500)
    in_step()
    assert _exposures(sessions)[(world.core.id, world.bank.id)] == 10_000_00

    # the root repaid early: its paper stops counting, even as it keeps moving
    maturity = world.consortium.maturity
    mint(world, world.bank, world.core, FACE)
    approve_tokens(world, world.core, maturity.address, FACE)
    before = _exposures(sessions)
    maturity.transact(world.core.signer, "repay", soon)
    in_step()
    assert _exposures(sessions) != before
    mover = next(c for c in _live(sessions) if c.root_id == soon and c.holder_id in members)
    to = next(m for m in members.values() if m.id != mover.holder_id)
    split(world, members[mover.holder_id], mover.id, to, 10_000_00)
    in_step()

    # past maturity: the repaid root's paper is redeemed
    travel_to(world.ledger, root(world.consortium, soon).maturity + DAY)
    for c in _live(sessions):
        if c.root_id == soon and c.holder_id in members and not c.locked:
            maturity.transact(members[c.holder_id].signer, "redeem", c.id)
    in_step()

    # a read model migrated from 0009 fills the table from the certificates
    kept = _exposures(sessions)
    engine = sessions.kw["bind"]
    command.downgrade(alembic_config(engine), "0009")
    command.upgrade(alembic_config(engine), "head")
    assert _exposures(sessions) == kept
