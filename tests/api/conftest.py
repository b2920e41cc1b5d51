"""An API over a fresh consortium and its read model, with a cast of members and keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.services.api_keys import issue_key
from api.services.custody import Custody
from api.services.documents import DocumentVault
from api.services.writer import LedgerWriter
from chain.backends import open_ledger
from chain.deploy import MemberSpec, deploy_consortium
from chain.events import EventDecoder
from chain.roles import Role
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.api.databases import fresh_database
from tests.helpers import World, make_world, new_credit_code, new_signer


@dataclass
class ApiWorld:
    world: World
    sessions: sessionmaker[Session]
    client: TestClient
    keys: dict[str, str]  # member name in World -> API key
    home: Path | None = None  # the node's keys and transaction store

    def sync(self) -> None:
        Indexer(self.sessions, self.world.ledger, EventDecoder(self.world.consortium)).sync()

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture(scope="module")
def read_model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite, or a fresh PostgreSQL database per module with SCF_TEST_DATABASE_URL."""
    with fresh_database(Path(tmp_path_factory.mktemp("api"))) as url:
        yield url


@pytest.fixture(scope="module")
def api_world(tmp_path_factory: pytest.TempPathFactory, read_model_url: str) -> Iterator[ApiWorld]:
    ledger = open_ledger("tester")
    governor = new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    world = make_world(deploy_consortium(ledger, governor, spec), governor)
    engine = make_engine(read_model_url)
    migrate(engine)
    sessions = session_factory(engine)
    Indexer(sessions, ledger, EventDecoder(world.consortium)).sync()
    keys: dict[str, str] = {}
    with sessions.begin() as session:
        for name in ("core", "tier1", "tier2", "tier3", "bank"):
            keys[name] = issue_key(session, getattr(world, name).id, label=name).key
    home = Path(tmp_path_factory.mktemp("node"))
    custody = Custody(home / "keys", passphrase="test passphrase")
    for name in ("core", "core2", "tier1", "tier2", "tier3", "bank", "bank2"):
        custody.store(getattr(world, name).signer)
    txm = TransactionManager(ledger, TxStore(home / "tx.db"))
    writer = LedgerWriter(txm, custody, Indexer(sessions, ledger, EventDecoder(world.consortium)))
    app = create_app(ledger, sessions, consortium=world.consortium, writer=writer)
    app.state.document_vault = DocumentVault.open(home / "keys" / "documents.key")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ApiWorld(world, sessions, client, keys, home)
    ledger.close()
    engine.dispose()
