"""Assemble the node's REST API and indexer over a home: read model, keys, custody, writer."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.services.api_keys import issue_key
from api.services.custody import Custody
from api.services.writer import LedgerWriter
from chain.accounts import Signer
from chain.deploy import Consortium
from chain.events import EventDecoder
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from nodes.home import NodeHome

log = logging.getLogger(__name__)

OPERATOR_MEMBER_ID = 1
INDEX_INTERVAL = 0.25  # seconds between indexer passes


@dataclass
class ApiService:
    app: FastAPI
    indexer: Indexer
    txm: TransactionManager
    operator_key_file: str

    def run_indexer(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(INDEX_INTERVAL):
                try:
                    self.indexer.sync()
                except Exception:  # keep following; the next pass retries the batch
                    log.exception("indexer pass failed")

        thread = threading.Thread(target=loop, name="indexer", daemon=True)
        thread.start()
        return thread

    def serve(self, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
        server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="rest-api", daemon=True)
        thread.start()
        return server, thread


def build_api(
    home: NodeHome,
    consortium: Consortium,
    governor: Signer,
    passphrase: str,
    database_url: str | None,
) -> ApiService:
    """Migrate the read model, catch it up, and wire the API's services."""
    ledger = consortium.ledger
    engine = make_engine(database_url or f"sqlite:///{home.path / 'scf.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    indexer = Indexer(sessions, ledger, EventDecoder(consortium))
    indexer.sync()
    custody = Custody(home.path / "keys" / "accounts", passphrase)
    if custody.signer(governor.address) is None:
        custody.store(governor)
    txm = TransactionManager(ledger, TxStore(home.path / "transactions.db"))
    txm.resend_unconfirmed()
    writer = LedgerWriter(txm, custody, indexer)
    key_file = home.path / "operator-api-key"
    if not key_file.exists():
        with sessions.begin() as session:
            issued = issue_key(session, OPERATOR_MEMBER_ID, label="operator")
        key_file.write_text(issued.key + "\n", "utf-8")
        key_file.chmod(0o600)
    app = create_app(ledger, sessions, consortium=consortium, writer=writer)
    return ApiService(app, indexer, txm, str(key_file))
