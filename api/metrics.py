"""Prometheus metrics at ``GET /metrics`` on the API's own host and port, unauthenticated
(operators scrape it; it names no member and no object).

- ``scf_http_requests_total{method,route,status}`` and
  ``scf_http_request_duration_seconds{method,route}``: by route *template*
  (``/v1/certificates/{certificate_id}``), never the raw path, so ids do not multiply series;
- ``scf_node_process_up{process}``, ``scf_node_process_restarts_total{process}``: the
  node's ledger and read replica, as ``scf-node start`` supervises them;
- ``scf_ledger_head_block``, ``scf_indexer_lag_blocks``, ``scf_webhook_deliveries_pending``:
  read when scraped;
- ``scf_transactions_sent_total{function}``, ``scf_transactions_reverted_total{function}``:
  transactions the ledger writer signed and sent (a replayed Idempotency-Key sends none);
- ``scf_consortium_role{role}``, ``scf_consortium_halted``: a consortium node's role, and
  whether it halted (absent on a single node);
- ``scf_http_requests_in_flight{kind}``: requests (``all``) and writes (``write``) the
  API runs now, against the bounds of ``api.admission``.

Each app has its own registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.admission import InFlight
from api.processes import ChildProcesses
from api.readmodel.indexer import CURSOR_ID
from api.readmodel.models import IndexerCursor, WebhookDeliveryRow
from api.services.container import ApiServices, services_of
from chain.errors import LedgerUnreachable

log = logging.getLogger(__name__)

UNMATCHED = "unmatched"  # one label for every path no route knows


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "scf_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "scf_http_request_duration_seconds",
            "time to answer an HTTP request, by route template",
            ["method", "route"],
            registry=registry,
        )


class LedgerCollector(Collector):
    """Figures read from the ledger and the database at scrape time."""

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def collect(self) -> Iterable[Metric]:
        services = self._services
        sessions, writer = services.sessions, services.writer
        try:
            head = services.ledger.block_number()
        except LedgerUnreachable as exc:  # a scrape must not fail because the ledger is away
            services.ledger_outage.failed(exc.message)
            return
        except Exception:
            log.warning("metrics: the ledger did not answer", exc_info=True)
            return
        yield GaugeMetricFamily("scf_ledger_head_block", "the ledger's head block", head)
        with sessions() as session:
            cursor = session.get(IndexerCursor, CURSOR_ID)
            pending = session.scalar(
                select(func.count())
                .select_from(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.state == "pending")
            )
        indexed = -1 if cursor is None else cursor.block_number
        yield GaugeMetricFamily(
            "scf_indexer_lag_blocks",
            "blocks the read model is behind the ledger's head",
            max(0, head - indexed),
        )
        yield GaugeMetricFamily(
            "scf_webhook_deliveries_pending",
            "webhook deliveries not yet delivered or given up",
            pending or 0,
        )
        if writer is not None:
            sent, reverted = writer.transaction_counts()
            for name, counts, text in (
                ("scf_transactions_sent", sent, "transactions signed and sent, by function"),
                ("scf_transactions_reverted", reverted, "sent transactions that reverted"),
            ):
                family = CounterMetricFamily(name, text, labels=["function"])
                for function, count in sorted(counts.items()):
                    family.add_metric([function], count)
                yield family


class ProcessCollector(Collector):
    """The node's child processes (``api.processes``): whether each runs, and how often
    the node started it again. Read even while the ledger is away."""

    def __init__(self, processes: ChildProcesses) -> None:
        self._processes = processes

    def collect(self) -> Iterable[Metric]:
        reported = self._processes.report()
        up = GaugeMetricFamily(
            "scf_node_process_up", "1 while the child process runs", labels=["process"]
        )
        restarts = CounterMetricFamily(
            "scf_node_process_restarts",
            "times the node started the child process again after it ended",
            labels=["process"],
        )
        for process in reported:
            up.add_metric([process.name], 1 if process.state == "running" else 0)
            restarts.add_metric([process.name], process.restarts)
        yield up
        yield restarts


class InFlightCollector(Collector):
    """What ``api.admission`` counts now: near its bounds, requests are being refused."""

    def __init__(self, in_flight: InFlight) -> None:
        self._in_flight = in_flight

    def collect(self) -> Iterable[Metric]:
        requests, writes = self._in_flight.counts()
        gauge = GaugeMetricFamily(
            "scf_http_requests_in_flight",
            "requests admitted and not yet answered (all; of them, writes)",
            labels=["kind"],
        )
        gauge.add_metric(["all"], requests)
        gauge.add_metric(["write"], writes)
        yield gauge


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template and final status."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: list[tuple[str, set[str], re.Pattern[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers: an exception becomes a 500 outside

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = self._route_template(scope)
            method = str(scope["method"])
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)

    def _route_template(self, scope: Scope) -> str:
        """The template of the route that answered, e.g. ``/v1/invoices/{key}``. A
        response given before routing (a stored Idempotency-Key replay) is matched against
        the templates of the OpenAPI document (read at the first such response: by then
        every route is in it)."""
        route: Any = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        if self._templates is None:
            app: FastAPI = scope["app"]
            templates = [
                (template, {m.upper() for m in item}, compile_path(template)[0])
                for template, item in app.openapi().get("paths", {}).items()
            ]
            # literal segments first: /v1/invoices/mine before /v1/invoices/{key}
            templates.sort(key=lambda t: t[0].count("{"))
            self._templates = templates
        for template, methods, pattern in self._templates:
            if scope["method"] in methods and pattern.match(scope["path"]):
                return template
        return UNMATCHED


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the scraper asks for it)",
            "content": {"text/plain": {}, "application/openmetrics-text": {}},
        }
    },
)
def read_metrics(request: Request) -> Response:
    """Prometheus metrics of this API node (no authentication: operators scrape it)."""
    registry = services_of(request.app).metrics_registry
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), media_type=content_type)


class ConsortiumCollector(Collector):
    """A consortium node's role and whether it halted (``scf_consortium_role{role}`` 1 for
    the role it has now, ``scf_consortium_halted`` 1 once it halted)."""

    ROLES = ("minter", "verifier", "learner", "halted")

    def __init__(self, services: ApiServices) -> None:
        self._services = services

    def collect(self) -> Iterable[Metric]:
        probe = self._services.consortium_probe
        if probe is None:
            return
        try:
            found = probe()
        except Exception:  # a scrape must not fail because the ledger is away
            log.warning("metrics: no consortium status", exc_info=True)
            return
        role = GaugeMetricFamily(
            "scf_consortium_role", "1 for this node's role in the consortium", labels=["role"]
        )
        for name in self.ROLES:
            role.add_metric([name], 1 if found.get("role") == name else 0)
        yield role
        yield GaugeMetricFamily(
            "scf_consortium_halted",
            "1 once the node halted on a block it could not verify",
            1 if found.get("halted") else 0,
        )


def install_metrics(app: FastAPI, services: ApiServices, in_flight: InFlight) -> None:
    registry = services.metrics_registry
    registry.register(LedgerCollector(services))
    registry.register(ConsortiumCollector(services))
    registry.register(ProcessCollector(services.child_processes))
    registry.register(InFlightCollector(in_flight))
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    app.include_router(router)
