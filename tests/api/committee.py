"""An API node over a consortium run by a weighted committee (or by one governor).

The committee: the operator (an auditor member, the node's governor) weight 2, the bank
weight 2 and the second core enterprise weight 1; thresholds 60 % / 60 %. So no governor
carries a proposal alone, the operator and the bank together do, and the bank and the
second core enterprise voting against reject it. Every member's key is custodial on the
node and every member has an API key, including a regulator (an auditor, not a governor).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.services.api_keys import issue_key
from api.services.custody import Custody
from api.services.documents import DocumentVault
from api.services.writer import LedgerWriter
from api.settings import Settings, get_settings
from chain.backends import open_ledger
from chain.deploy import MemberSpec, deploy_consortium
from chain.events import EventDecoder
from chain.ledger import Ledger
from chain.roles import Role
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.helpers import (
    FUNDING_WEI,
    Member,
    World,
    admit_member,
    govern,
    make_world,
    new_credit_code,
    new_signer,
)

WEIGHTS = {"operator": 2, "bank": 2, "core2": 1}
THRESHOLDS = (60, 60)
CAST = ("core", "core2", "tier1", "tier2", "tier3", "bank", "bank2")


@dataclass
class CommitteeNode:
    world: World
    regulator: Member
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    keys: dict[str, str]  # "operator", "regulator" and the World's cast -> API key

    @property
    def ledger(self) -> Ledger:
        return self.world.ledger

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def post(self, who: str, path: str, body: Any = None, *, expect: int = 201) -> Any:
        response = self.client.post(path, json=body, headers=self.auth(who))
        assert response.status_code == expect, f"{path}: {response.text}"
        return response.json()

    def get(self, who: str, path: str, *, expect: int = 200) -> Any:
        response = self.client.get(path, headers=self.auth(who))
        assert response.status_code == expect, f"{path}: {response.text}"
        return response.json()


@contextmanager
def committee_node(home: Path, *, committee: bool = True) -> Iterator[CommitteeNode]:
    ledger = open_ledger("tester")
    governor = new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    world = make_world(deploy_consortium(ledger, governor, spec), governor)
    regulator = admit_member(world.consortium, governor, [Role.AUDITOR], name="Regulator")
    if committee:
        gov = world.consortium.governance
        accounts = {
            "operator": governor.address,
            "bank": world.bank.address,
            "core2": world.core2.address,
        }
        govern(
            world.consortium,
            governor,
            *[(gov, "setGovernor", (accounts[n], w)) for n, w in WEIGHTS.items()],
            (gov, "setThresholds", THRESHOLDS),
        )
    engine = make_engine(f"sqlite:///{home / 'api.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    indexer = Indexer(sessions, ledger, EventDecoder(world.consortium))
    indexer.sync()
    custody = Custody(home / "keys", passphrase="test passphrase")
    custody.store(governor)
    custody.store(regulator.signer)
    keys: dict[str, str] = {}
    with sessions.begin() as session:
        keys["operator"] = issue_key(session, 1, label="operator").key
        keys["regulator"] = issue_key(session, regulator.id, label="regulator").key
        for name in CAST:
            member: Member = getattr(world, name)
            custody.store(member.signer)
            keys[name] = issue_key(session, member.id, label=name).key
    writer = LedgerWriter(TransactionManager(ledger, TxStore(home / "tx.db")), custody, indexer)
    # members store the documents their invoices and agreements anchor
    vault = DocumentVault.open(home / "keys" / "documents.key")
    app = create_app(
        ledger, sessions, consortium=world.consortium, writer=writer, document_vault=vault
    )
    # generous by default: the rate-limit test sets its own limits
    app.dependency_overrides[get_settings] = lambda: Settings(application_burst=10_000)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield CommitteeNode(world, regulator, app, client, sessions, keys)
    ledger.close()


def fund_gas(node: CommitteeNode, account: str) -> None:
    """The tester ledger charges a base fee: give a newly admitted account ether for gas
    (the embedded ledger of a real node charges none)."""
    node.ledger.fund(account, FUNDING_WEI)
