"""The FastAPI application factory: routes under /v1, health, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.orm import Session, sessionmaker

from api.admission import AdmissionControl, InFlight
from api.authentication import Authenticator
from api.body_limits import BodyLimits, BodyRules, CredentialsFirst
from api.errors import ErrorResponse, install_error_handlers
from api.health import LedgerHead
from api.idempotency.middleware import install_idempotency
from api.idempotency.worker import OperationWorker
from api.metrics import install_metrics
from api.portal import PORTAL_SECRET_ANSWERS, mount_portal
from api.read_freshness import ReadFreshness
from api.routes import (
    applications,
    certificates,
    credit_lines,
    documents,
    events,
    explorer,
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
from api.schemas.health import ConsortiumHealth, HealthPublic
from api.services.container import ApiServices, services_of
from api.services.documents import DocumentVault
from api.services.event_streams import EventStreams
from api.services.explorer import Explorer
from api.services.governance import Committee
from api.services.pki_protocol import CertificateAuthority
from api.services.writer import LedgerWriter
from api.settings import Settings, get_settings
from api.wire import utc_datetime
from chain.deploy import Consortium
from chain.errors import LedgerError
from chain.ledger import Ledger

HEALTH_PROBE_SECONDS = 5.0  # a consortium node's role, read from its ledger process

API_VERSION = "0.1.0"


def create_app(
    ledger: Ledger,
    sessions: sessionmaker[Session],
    *,
    consortium: Consortium | None = None,
    writer: LedgerWriter | None = None,
    document_vault: DocumentVault | None = None,
    certificate_authority: CertificateAuthority | None = None,
    operation_sessions: sessionmaker[Session] | None = None,
    portal: bool = True,
) -> FastAPI:
    """Build the API over ``ledger``: its services once (``ApiServices``), then the routes
    and middleware that use them. The node and the tests both build it here. ``portal``:
    serve the member portal's pages at ``/portal`` (a read replica does not: signing in
    writes a session)."""
    services = ApiServices(
        ledger=ledger,
        sessions=sessions,
        consortium=consortium,
        writer=writer,
        operation_sessions=operation_sessions or sessions,
        document_vault=document_vault,
        certificate_authority=certificate_authority,
        event_streams=EventStreams.from_settings(sessions, get_settings()),
        committee=Committee(consortium, writer) if consortium is not None else None,
        explorer=Explorer(consortium) if consortium is not None else None,
        authenticator=Authenticator(sessions),
        # a read-only API (a read replica over the same read model) resumes nothing
        operations=OperationWorker(operation_sessions or sessions, enabled=writer is not None),
    )
    # Swagger UI (/docs) and ReDoc (/redoc) from assets the node serves itself: a consortium
    # network is often offline, where the CDN that FastAPI's pages load would leave them blank
    app = FastAPIOffline(
        static_url="/docs-assets",
        title="SCF Chain API",
        version=API_VERSION,
        description="Supply-chain finance on a consortium ledger: members, invoices, "
        "credit certificates, financing and settlement.",
        responses={422: {"model": ErrorResponse}, 500: {"model": ErrorResponse}},
        lifespan=_lifespan,
    )
    app.state.services = services  # the one thing on app.state: read it with services_of
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
    app.include_router(explorer.router)
    # Idempotency-Key on every POST, ?wait=false on every member's POST
    install_idempotency(
        app,
        anonymous=[applications.IDEMPOTENT_APPLICATIONS],
        # the signing secret, portal users' invitation codes: shown once
        secret_answers=[webhooks.router.prefix, *PORTAL_SECRET_ANSWERS],
    )
    # a member's read that names a block waits (boundedly) for the read model to index it
    ledger_head = LedgerHead(ledger)  # /healthz's reading, shared: one ledger call at a time
    app.add_middleware(ReadFreshness, sessions=sessions, head=ledger_head)
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
    install_metrics(app, services, in_flight)  # counts replays, 202s and refusals too
    # outermost: /portal's pages, which call the API in process; its users' REST routes
    mount_portal(app, services, pages=portal)

    @app.get(
        "/healthz",
        tags=["operations"],
        response_model=HealthPublic,
        response_model_exclude_unset=True,
        responses={503: {"model": ErrorResponse, "description": "the ledger does not answer"}},
    )
    async def get_health() -> HealthPublic:
        """Liveness and the ledger's head: 200 when the ledger answers, else 503 (with the
        node's child processes in ``details.processes``: a ledger being restarted).
        Answered on the event loop, never behind requests waiting for worker threads
        (``api.health``)."""
        processes = services.child_processes.report()
        try:
            head = await ledger_head.read()
        except LedgerError as exc:
            shown = [p.model_dump(mode="json") for p in processes]
            raise LedgerError(exc.message, details={**exc.details, "processes": shown}) from None
        consortium = await _consortium_health(services.consortium_probe)
        return HealthPublic(
            status="ok",
            chain_id=head.chain_id,
            head_block=head.number,
            head_time=utc_datetime(head.timestamp),
            processes=processes,
            dev_mode=services.dev_mode,
            # a single node's answer has no consortium field at all (unset: left out)
            **({"consortium": consortium} if consortium is not None else {}),
        )

    return app


async def _consortium_health(
    probe: Callable[[], dict[str, Any]] | None,
) -> ConsortiumHealth | None:
    """A consortium node's role; ``LedgerError`` (503) while it has halted: it serves no
    state past its last good block, and a load balancer must send its clients elsewhere."""
    if probe is None:
        return None
    found = None
    with anyio.move_on_after(HEALTH_PROBE_SECONDS):
        found = await anyio.to_thread.run_sync(probe, abandon_on_cancel=True)
    if found is None:
        raise LedgerError(f"the ledger gave no consortium status in {HEALTH_PROBE_SECONDS:g} s")
    health = ConsortiumHealth.model_validate(found)
    if health.halted is not None:
        raise LedgerError(f"this node has halted: {health.halted}", details={"consortium": found})
    return health


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """What runs while the app serves: the operations worker (``?wait=false``), which
    first resumes the operations a stopped process left pending."""
    operations = services_of(app).operations
    await operations.start()
    try:
        yield
    finally:
        await operations.stop()


def _document_body_max_bytes(settings: Settings) -> int:
    return settings.document_body_max_bytes
