"""Assemble the node's REST API and indexer over a home: read model, keys, custody, writer."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.portal.totp_secrets import seal_plaintext_totp_secrets
from api.readmodel.database import make_engine, migrate, relaxed_engine, session_factory
from api.readmodel.indexer import Indexer
from api.replica import InlineSyncMiddleware, ReadOnlyGate
from api.services.container import services_of
from api.services.custody import Custody
from api.services.documents import DocumentVault
from api.services.mtls import uvicorn_tls_options
from api.services.webhook_secrets import seal_plaintext_secrets
from api.services.webhook_targets import TargetPolicy
from api.services.webhooks import RetryPolicy, WebhookDispatcher, make_client
from api.services.writer import LedgerWriter
from api.settings import get_settings
from chain.accounts import Signer
from chain.deploy import Consortium
from chain.errors import LedgerUnreachable
from chain.events import EventDecoder
from chain.txmanager import TransactionManager
from chain.txstore import TxStore
from nodes.home import NodeHome, kdf_iterations_for
from nodes.pki.ca import ConsortiumCA, NodePki
from nodes.runtime.operator_key import ensure_operator_key
from nodes.runtime.placement import lower_this_thread

log = logging.getLogger(__name__)

INDEX_INTERVAL = 0.25  # seconds between indexer passes


@dataclass
class ApiService:
    app: FastAPI
    indexer: Indexer
    txm: TransactionManager
    operator_key_file: str | None  # None: the home's governor key is no member's account
    pki: NodePki | None = None
    passphrase: str = ""

    def run_indexer(self, stop: threading.Event) -> threading.Thread:
        outage = services_of(self.app).ledger_outage

        def loop() -> None:
            while not stop.wait(INDEX_INTERVAL):
                try:
                    self.indexer.sync()
                except LedgerUnreachable as exc:  # restarting: said once, not every pass
                    outage.failed(exc.message)
                    continue
                except Exception:  # keep following; the next pass retries the batch
                    log.exception("indexer pass failed")
                outage.recovered()

        thread = threading.Thread(target=loop, name="indexer", daemon=True)
        thread.start()
        self.run_webhooks(stop)
        return thread

    def run_webhooks(self, stop: threading.Event) -> threading.Thread:
        """Deliver webhooks beside the indexer, until ``stop`` is set."""
        settings = get_settings()
        policy = RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_seconds=settings.webhook_backoff_seconds,
        )
        client = make_client(settings.webhook_timeout_seconds, settings.webhook_workers)
        targets = TargetPolicy.from_setting(settings.webhook_allowed_networks)
        services = services_of(self.app)
        assert services.document_vault is not None, "build_api gives the home's vault"
        dispatcher = WebhookDispatcher(
            services.sessions,
            client,
            services.document_vault,
            targets,
            policy=policy,
            workers=settings.webhook_workers,
            per_member=settings.webhook_workers_per_member,
        )
        return dispatcher.start(stop, settings.webhook_interval_seconds)

    def serve(
        self, listener: socket.socket, *, tls: bool = False, niceness: int = 0
    ) -> tuple[uvicorn.Server, threading.Thread]:
        """Serve the API on ``listener`` (bound by the caller, who can say why a port is
        refused); with ``tls``, HTTPS with the node certificate, accepting client
        certificates of the consortium CA (``api.services.mtls``). ``niceness``: how many
        steps lower the server's threads run (``nodes.runtime.placement``)."""
        options = tls_options(self.pki, self.passphrase) if tls else {}
        options |= proxy_options(get_settings().trusted_proxies)
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", **options))

        def run() -> None:
            lower_this_thread(niceness)  # the worker threads it starts inherit it
            server.run(sockets=[listener])

        thread = threading.Thread(target=run, name="rest-api", daemon=True)
        thread.start()
        return server, thread


def proxy_options(trusted_proxies: str) -> dict[str, Any]:
    """``uvicorn.Config`` options for forwarded headers: believed only from the reverse
    proxies the operator names (``SCF_TRUSTED_PROXIES``). uvicorn's own default trusts
    them from loopback, where any local caller could then pose as any address and so
    escape the per-address limit on applications."""
    trusted = trusted_proxies.strip()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def tls_options(pki: NodePki | None, passphrase: str) -> dict[str, Any]:
    """``uvicorn.Config`` options for HTTPS with the node certificate, accepting client
    certificates of the consortium CA."""
    if pki is None:
        raise RuntimeError("TLS needs the home's consortium CA (pki/)")
    ca = pki.ca
    return uvicorn_tls_options(ca.node_certificate_file, ca.node_key_file, passphrase, ca.ca_file)


def build_api(
    home: NodeHome,
    consortium: Consortium,
    governor: Signer,
    passphrase: str,
    database_url: str,
    store: TxStore | None = None,
) -> ApiService:
    """Migrate the read model, catch it up, and wire the API's services. ``store``: the
    transaction store, opened (and closed) by the caller; else the home's, opened here."""
    ledger = consortium.ledger
    engine = make_engine(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    # what the ledger or the transaction store can give back commits without waiting for the
    # disk: the indexer's projections and the operations (stored answers) of Idempotency-Key
    relaxed = session_factory(relaxed_engine(engine))
    decoder = EventDecoder(consortium)
    indexer = Indexer(relaxed, ledger, decoder, first_block=consortium.deployment_block)
    indexer.sync()
    accounts = home.path / "keys" / "accounts"
    custody = Custody(accounts, passphrase, kdf_iterations=kdf_iterations_for(passphrase))
    if custody.signer(governor.address) is None:
        custody.store(governor)
    if store is None:
        store = TxStore(home.path / "transactions.db")
    txm = TransactionManager(ledger, store)
    txm.resend_unconfirmed()
    writer = LedgerWriter(txm, custody, indexer)
    key_file = ensure_operator_key(home.path, sessions, consortium, governor.address)
    vault, pki = home_services(home, consortium, passphrase)
    app = create_app(
        ledger,
        sessions,
        consortium=consortium,
        writer=writer,
        document_vault=vault,
        certificate_authority=pki,
        operation_sessions=relaxed,
    )
    with sessions() as session:  # webhooks registered before their secrets were sealed
        sealed = seal_plaintext_secrets(session, vault)
    if sealed:
        log.info("sealed the signing secrets of %d webhooks with the node's data key", sealed)
    with sessions() as session:  # portal users whose TOTP secrets predate sealing
        sealed = seal_plaintext_totp_secrets(session, vault)
    if sealed:
        log.info("sealed the TOTP secrets of %d portal users with the node's data key", sealed)
    operator_key = None if key_file is None else str(key_file)
    return ApiService(app, indexer, txm, operator_key, pki, passphrase)


def build_read_api(
    home: NodeHome,
    consortium: Consortium,
    passphrase: str,
    database_url: str,
    primary_url: str,
) -> FastAPI:
    """The read replica's app: every GET route of the API over the same read model, sync
    routes inline; writes answer 503 ``writes_unavailable`` naming ``primary_url``. It
    serves no member portal pages (``/portal``): those sign in and act on the primary."""
    engine = make_engine(database_url)
    sessions = session_factory(engine)  # the primary migrated it before the replica started
    vault, pki = home_services(home, consortium, passphrase)
    app = create_app(
        consortium.ledger,
        sessions,
        consortium=consortium,
        document_vault=vault,
        certificate_authority=pki,
        portal=False,  # signing in to the member portal writes a session: the primary's
    )
    app.add_middleware(InlineSyncMiddleware)
    app.add_middleware(ReadOnlyGate, primary_url=primary_url)  # outermost: before any claim
    return app


def home_services(
    home: NodeHome, consortium: Consortium, passphrase: str
) -> tuple[DocumentVault, NodePki | None]:
    """What the home holds for the API: the document vault, and the consortium CA when
    the home has one."""
    vault = DocumentVault.open(home.path / "keys" / "documents.key")
    if not ConsortiumCA.exists(home.pki_dir):
        return vault, None
    return vault, NodePki(ConsortiumCA.open(home.pki_dir, passphrase), consortium)
