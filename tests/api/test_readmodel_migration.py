"""The read model across a migration of a pre-proxy consortium (chain/migration.py,
api/readmodel/indexer.py): a node of this release indexes the legacy contracts (their older
events included), keeps indexing by the legacy deployment while the import runs, and after
`migrate finish` catches up once with the successors over the blocks it had indexed: re-keyed
invoices move to their new keys, the legacy history stays, nothing is applied twice, and the
story goes on on the successors. A read model built from scratch after the switch holds the
same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.readmodel.models import (
    CertificateRow,
    ChainEventRow,
    FinancingRequestRow,
    InvoiceRow,
    MemberAccountRow,
    MemberRow,
)
from chain.credit_code import credit_code_hash
from chain.deploy import Consortium, MemberSpec
from chain.events import EventDecoder
from chain.invoice_key import invoice_key
from chain.ledger import Ledger
from chain.migration import adopted, adoption_calls, expected_totals, import_all, prepare
from chain.roles import Role
from tests.contracts.legacy import (
    deploy_legacy_consortium,
    govern_successor,
    legacy_invoice_key,
    open_import,
)
from tests.helpers import (
    DAY,
    INVOICE_CODE,
    admit_member,
    doc_hash,
    new_credit_code,
    new_signer,
    now,
)


def _sessions(path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return session_factory(engine)


def _rows(sessions: sessionmaker[Session]) -> dict[str, Any]:
    def table(model: Any, key: Any) -> list[dict[str, Any]]:
        with sessions() as session:
            rows = session.scalars(select(model).order_by(key)).all()
            return [{c.name: getattr(r, c.key) for c in model.__table__.columns} for r in rows]

    return {
        "members": table(MemberRow, MemberRow.id),
        "accounts": table(MemberAccountRow, MemberAccountRow.address),
        "invoices": table(InvoiceRow, InvoiceRow.key),
        "certificates": table(CertificateRow, CertificateRow.id),
        "requests": table(FinancingRequestRow, FinancingRequestRow.id),
    }


def test_the_read_model_follows_the_switch_to_the_successors(
    ledger: Ledger, tmp_path: Path
) -> None:
    governor = new_signer(ledger)
    operator = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    legacy = deploy_legacy_consortium(ledger, governor, operator)
    core = admit_member(legacy, governor, [Role.CORE_ENTERPRISE], name="Core")
    tier1 = admit_member(legacy, governor, [Role.SUPPLIER], name="Tier-1")
    bank = admit_member(legacy, governor, [Role.FINANCIER], name="Bank")
    identities = {}
    for number in ("00000201", "00000202"):
        identity = (tier1.credit_code, INVOICE_CODE, number)
        key = legacy_invoice_key(*identity)
        issued = now(ledger)
        legacy.invoices.transact(tier1.signer, "registerInvoice", key, core.id, 1_000_00,
                                 issued, issued + 90 * DAY, doc_hash(number))  # fmt: skip
        legacy.invoices.transact(core.signer, "confirmInvoice", key)
        identities[key] = identity
    first, second = identities
    granted = legacy.credit_lines.transact(
        bank.signer, "grantCreditLine", core.id, 5_000_00, now(ledger) + 365 * DAY
    )
    line = int(legacy.credit_lines.event_args(granted, "CreditLineGranted")["lineId"])
    legacy.certificates.transact(core.signer, "issueCertificate", tier1.id, 1_000_00,
                                 now(ledger) + 60 * DAY, line, [first])  # fmt: skip
    legacy.financing.transact(tier1.signer, "requestFinancing", 1, bank.id, 400_00,
                              doc_hash("agreement"), now(ledger) + 30 * DAY)  # fmt: skip

    # a node of this release, on the legacy deployment (its artifacts are today's)
    deployment = tmp_path / "deployment.json"
    legacy.save(deployment)
    before_switch = Consortium.load(ledger, deployment)
    sessions = _sessions(tmp_path / "readmodel.db")
    Indexer(sessions, ledger, EventDecoder(before_switch)).sync()
    with sessions() as session:  # the legacy events of older form are read
        assert session.get(InvoiceRow, "0x" + first.hex()) is not None
        assert session.get_one(FinancingRequestRow, 1).max_rate_bps == 0

    # the migration runs; the node keeps indexing by its legacy deployment
    plan = prepare(legacy, governor)
    open_import(legacy, plan, governor, 1_000_000_00)
    import_all(ledger, plan, governor, identities)
    totals = expected_totals(ledger, plan)
    govern_successor(ledger, plan, governor, *adoption_calls(legacy, plan, totals))
    Indexer(sessions, ledger, EventDecoder(before_switch)).sync()

    # `migrate finish` on this node: the successors, the legacy ones retired
    adopted(legacy, plan).save(deployment)
    after_switch = Consortium.load(ledger, deployment)
    indexer = Indexer(sessions, ledger, EventDecoder(after_switch))
    indexer.sync()
    derived = {
        key: "0x" + invoice_key(credit_code_hash(code), *rest).hex()
        for key, (code, *rest) in identities.items()
    }
    with sessions() as session:
        assert session.get(InvoiceRow, "0x" + first.hex()) is None  # moved, not copied
        assert session.get_one(InvoiceRow, derived[first]).certificate_id == 1
        assert session.get_one(InvoiceRow, derived[second]).status == "confirmed"
        rekeyed = session.scalars(
            select(ChainEventRow).where(ChainEventRow.name == "LegacyInvoiceRekeyed")
        ).all()
        assert len(rekeyed) == 2  # caught up once

    # the story goes on at the successors: the re-keyed invoice backs a new certificate
    backing = [bytes.fromhex(derived[second][2:])]
    after_switch.certificates.transact(core.signer, "issueCertificate", tier1.id, 1_000_00,
                                       now(ledger) + 60 * DAY, line, backing)  # fmt: skip
    Indexer(sessions, ledger, EventDecoder(after_switch)).sync()  # a restart: no second catch-up
    with sessions() as session:
        assert session.get_one(InvoiceRow, derived[second]).status == "assigned"
        assert len(session.scalars(select(ChainEventRow).where(
            ChainEventRow.name == "LegacyInvoiceRekeyed")).all()) == 2  # fmt: skip

    # a read model built from scratch after the switch holds the same rows
    fresh = _sessions(tmp_path / "fresh.db")
    Indexer(fresh, ledger, EventDecoder(after_switch)).sync()
    assert _rows(fresh) == _rows(sessions)
    assert len(_rows(fresh)["members"]) == 4
