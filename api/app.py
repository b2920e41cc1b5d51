"""The FastAPI application factory: routes under /v1, health, one error shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import Session, sessionmaker

from api.admission import AdmissionControl, InFlight
from api.body_limits import BodyLimits, BodyRules, CredentialsFirst
from api.errors import ErrorResponse, install_error_handlers
from api.health import LedgerHead
from api.idempotency.middleware import install_idempotency
from api.metrics import install_metrics
from api.processes import ChildProcesses, OutageLog
from api.routes import (
    applications,
    certificates,
    credit_lines,
    documents,
    events,
    financing,
    governance,
    invoices,
    maturity,
    members,
    operations,
    pki,
    risk,
    settlement,
    webhooks,
)
from api.schemas.health import HealthPublic
from api.services.event_streams import EventStreams
from api.services.writer import LedgerWriter
from api.settings import Settings, get_settings
from api.wire import utc_datetime
from chain.deploy import Consortium
from chain.errors import LedgerError
from chain.ledger import Ledger

API_VERSION = "0.1.0"


def create_app(
    ledger: Ledger,
    sessions: sessionmaker[Session],
    *,
    consortium: Consortium | None = None,
    writer: LedgerWriter | None = None,
) -> FastAPI:
    """Build the API over ``ledger``; services get what they need from ``app.state``."""
    # Swagger UI (/docs) and ReDoc (/redoc) from assets the node serves itself: a consortium
    # network is often offline, where the CDN that FastAPI's pages load would leave them blank
    app = FastAPIOffline(
        static_url="/docs-assets",
        title="SCF Chain API",
        version=API_VERSION,
        description="Supply-chain finance on a consortium ledger: members, invoices, "
        "credit certificates, financing and settlement.",
        responses={422: {"model": ErrorResponse}, 500: {"model": ErrorResponse}},
    )
    app.state.ledger = ledger
    app.state.sessions = sessions
    app.state.consortium = consortium
    app.state.writer = writer
    app.state.event_streams = EventStreams.from_settings(sessions, get_settings())
    app.state.child_processes = ChildProcesses()  # scf-node start attaches its supervisor
    app.state.dev_mode = False  # scf-node start --dev says so (nodes.dev_mode)
    app.state.ledger_outage = OutageLog("the ledger", logging.getLogger("api.ledger"))
    install_error_handlers(app)
    app.include_router(applications.router)  # before members: /applications is no member id
    app.include_router(members.router)
    app.include_router(governance.router)
    app.include_router(governance.committee_router)
    app.include_router(certificates.router)
    app.include_router(invoices.router)
    app.include_router(credit_lines.router)
    app.include_router(settlement.router)
    app.include_router(financing.router)
    app.include_router(maturity.router)
    app.include_router(documents.router)
    app.include_router(risk.router)
    app.include_router(pki.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(operations.router)
    # Idempotency-Key on every POST, ?wait=false on every member's POST
    install_idempotency(
        app,
        anonymous=[applications.IDEMPOTENT_APPLICATIONS],
        secret_answers=[webhooks.router.prefix],  # the signing secret, shown once
    )
    body_rules = BodyRules.of(
        larger={documents.router.prefix: _document_body_max_bytes},
        anonymous=[applications.IDEMPOTENT_APPLICATIONS.path],
    )
    # a member's write is authenticated before its body is read, and that body read within
    # its limit before the idempotency middleware fingerprints it
    app.add_middleware(CredentialsFirst, rules=body_rules)
    # requests beyond what the node runs at once are refused before the first worker-thread
    # hop (authentication); after the body limits, so that the slow body of a request that
    # needs no credentials does not hold a place
    in_flight = InFlight()
    app.add_middleware(AdmissionControl, in_flight=in_flight)
    # before anything reads or parses a body (only the metrics, which read none, are
    # outside it, so that its 413s and 422s are counted)
    app.add_middleware(BodyLimits, rules=body_rules)
    install_metrics(app, in_flight)  # outermost: counts replays, 202s and refusals too
    ledger_head = LedgerHead(ledger)

    @app.get(
        "/healthz",
        tags=["operations"],
        response_model=HealthPublic,
        responses={503: {"model": ErrorResponse, "description": "the ledger does not answer"}},
    )
    async def get_health() -> HealthPublic:
        """Liveness and the ledger's head: 200 when the ledger answers, else 503 (with the
        node's child processes in ``details.processes``: a ledger being restarted).
        Answered on the event loop, never behind requests waiting for worker threads
        (``api.health``)."""
        processes = app.state.child_processes.report()
        try:
            head = await ledger_head.read()
        except LedgerError as exc:
            shown = [p.model_dump(mode="json") for p in processes]
            raise LedgerError(exc.message, details={**exc.details, "processes": shown}) from None
        return HealthPublic(
            status="ok",
            chain_id=head.chain_id,
            head_block=head.number,
            head_time=utc_datetime(head.timestamp),
            processes=processes,
            dev_mode=app.state.dev_mode,
        )

    return app


def _document_body_max_bytes(settings: Settings) -> int:
    return settings.document_body_max_bytes
