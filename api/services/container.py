"""The API's shared services, typed and built once (``api.app.create_app``).

Routes take them through ``api.deps.ServicesDep``; ASGI middleware, which no dependency
reaches, through ``services_of(app)``. Nothing is added later or built lazily by a
handler: what the node knows at start (its writer, document vault, certificate authority)
is given to ``create_app``, whoever calls it (``nodes.service`` and the tests alike).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from api.processes import ChildProcesses, OutageLog
from api.services.documents import DocumentVault
from api.services.event_streams import EventStreams
from api.services.pki_protocol import CertificateAuthority
from api.services.rate_limit import TokenBucketLimiter
from api.services.writer import LedgerWriter
from chain.deploy import Consortium
from chain.ledger import Ledger

if TYPE_CHECKING:  # api.services.governance imports api.deps, which imports this module
    from api.authentication import Authenticator
    from api.idempotency.worker import OperationWorker
    from api.services.document_exchange import DocumentExchange
    from api.services.explorer import Explorer
    from api.services.governance import Committee

DEFAULT_WAIT_SECONDS = 30.0  # a duplicate waits this long for the first request to finish


def _ledger_outage() -> OutageLog:
    return OutageLog("the ledger", logging.getLogger("api.ledger"))


@dataclass
class ApiServices:
    """What the routes and middleware of one app share."""

    ledger: Ledger
    sessions: sessionmaker[Session]
    consortium: Consortium | None
    writer: LedgerWriter | None  # None: a read-only API (a read replica)
    # where operations (kept answers of Idempotency-Key, ?wait=false) are recorded: the
    # node gives sessions whose commits do not wait for the disk (``api.idempotency.store``)
    operation_sessions: sessionmaker[Session]
    document_vault: DocumentVault | None  # the node's data key; None: documents refused
    certificate_authority: CertificateAuthority | None  # None: no mutual TLS, no /v1/pki
    event_streams: EventStreams
    committee: Committee | None  # None without a consortium
    authenticator: Authenticator  # who a request's credentials name, once per request
    operations: OperationWorker  # runs ?wait=false operations; resumes them after a restart
    application_limiter: TokenBucketLimiter = field(default_factory=TokenBucketLimiter)
    # the member portal's sign-in attempts, per account and per address (``api.portal``)
    portal_sign_in_limiter: TokenBucketLimiter = field(default_factory=TokenBucketLimiter)
    child_processes: ChildProcesses = field(default_factory=ChildProcesses)
    ledger_outage: OutageLog = field(default_factory=_ledger_outage)
    metrics_registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    explorer: Explorer | None = None  # None without a consortium
    dev_mode: bool = False  # scf-node start --dev says so (nodes.dev_mode); /healthz shows it
    # a consortium node's role, whether it halted, the minter (nodes.consortium.probe);
    # None: a single node. /healthz answers 503 while the node has halted.
    consortium_probe: Callable[[], dict[str, Any]] | None = None
    idempotency_wait_seconds: float = DEFAULT_WAIT_SECONDS
    # a consortium node's outbox of documents for parties at other institutions
    # (api.services.document_exchange); None: documents stay on this node
    document_exchange: DocumentExchange | None = None


def services_of(app: Any) -> ApiServices:
    """The services of ``app`` (a FastAPI app built by ``api.app.create_app``)."""
    services: ApiServices = app.state.services
    return services
