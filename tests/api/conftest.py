"""An API over a consortium and its read model, with a cast of members and keys.

Each test worker builds the world once: it deploys the consortium on the tester ledger,
admits the cast, indexes a template read model, issues the API keys and encrypts the
cast's keystores (``world_template``, ``api_template``). Each module then gets the ledger
restored to that world's snapshot, a copy of the template read model and of the
keystores, and an app of its own (``api_world``): no module sees another's state.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
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
from chain.accounts import Signer
from chain.backends import open_ledger
from chain.deploy import MemberSpec, deploy_consortium
from chain.events import EventDecoder
from chain.roles import Role
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from tests.api.databases import fresh_database
from tests.helpers import World, make_world, new_credit_code, new_signer

PASSPHRASE = "test passphrase"
KEYED = ("core", "tier1", "tier2", "tier3", "bank")  # members with an API key
CUSTODIAL = ("core", "core2", "tier1", "tier2", "tier3", "bank", "bank2")  # keys on the node


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


@dataclass(frozen=True)
class WorldTemplate:
    """A ``World`` on the tester ledger and the snapshot of the ledger it was built at."""

    world: World
    snapshot: int

    def restore(self) -> World:
        """The world as it was built: every block mined since is undone."""
        self.world.ledger.revert(self.snapshot)
        return self.world


@dataclass(frozen=True)
class ApiTemplate:
    """What every module's API starts from: the world, its indexed read model (the URL of
    a database no connection is open to), the cast's API keys and encrypted keystores."""

    worlds: WorldTemplate
    database: str
    keys: Mapping[str, str]
    keystores: Path


class WarmCustody(Custody):
    """Custody over keystores copied from the template, holding their signers in memory as
    a node does once it has stored or read them (scrypt is slow on purpose: the template
    pays it once per worker, not each module)."""

    def __init__(self, directory: Path, passphrase: str, signers: Mapping[str, Signer]) -> None:
        super().__init__(directory, passphrase)
        self._warm = {address.lower(): signer for address, signer in signers.items()}

    def signer(self, address: str) -> Signer | None:
        return self._warm.get(address.lower()) or super().signer(address)


@pytest.fixture(scope="session")
def world_template() -> Iterator[WorldTemplate]:
    """One deployed consortium with its cast per test worker."""
    ledger = open_ledger("tester")
    governor = new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    world = make_world(deploy_consortium(ledger, governor, spec), governor)
    yield WorldTemplate(world, ledger.snapshot())
    ledger.close()


@pytest.fixture(scope="session")
def api_template(
    world_template: WorldTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiTemplate]:
    world = world_template.restore()
    directory = Path(tmp_path_factory.mktemp("api-template"))
    with fresh_database(directory) as url:
        engine = make_engine(url)
        migrate(engine)
        sessions = session_factory(engine)
        Indexer(sessions, world.ledger, EventDecoder(world.consortium)).sync()
        with sessions.begin() as session:
            keys = {
                name: issue_key(session, getattr(world, name).id, label=name).key for name in KEYED
            }
        engine.dispose()  # a copy is taken with no connection open to its template
        custody = Custody(directory / "keys", passphrase=PASSPHRASE)
        for name in CUSTODIAL:
            custody.store(getattr(world, name).signer)
        yield ApiTemplate(world_template, url, keys, directory / "keys")


@pytest.fixture(scope="module")
def read_model_url(
    api_template: ApiTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The module's copy of the template read model: a SQLite file, or with
    SCF_TEST_DATABASE_URL a PostgreSQL database of its own."""
    with fresh_database(Path(tmp_path_factory.mktemp("api")), api_template.database) as url:
        yield url


@pytest.fixture(scope="module")
def api_world(
    api_template: ApiTemplate, read_model_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiWorld]:
    world = api_template.worlds.restore()
    ledger = world.ledger
    engine = make_engine(read_model_url)
    sessions = session_factory(engine)
    home = Path(tmp_path_factory.mktemp("node"))
    shutil.copytree(api_template.keystores, home / "keys")
    signers = {getattr(world, name).address: getattr(world, name).signer for name in CUSTODIAL}
    custody = WarmCustody(home / "keys", PASSPHRASE, signers)
    txm = TransactionManager(ledger, TxStore(home / "tx.db"))
    writer = LedgerWriter(txm, custody, Indexer(sessions, ledger, EventDecoder(world.consortium)))
    # through the factory the node uses (nodes.service.build_api), with what a node's home
    # gives it: a document vault
    app = create_app(
        ledger,
        sessions,
        consortium=world.consortium,
        writer=writer,
        document_vault=DocumentVault.open(home / "keys" / "documents.key"),
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ApiWorld(world, sessions, client, dict(api_template.keys), home)
    engine.dispose()
    api_template.worlds.restore()
