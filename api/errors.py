"""The one place that turns errors into the API's JSON error shape.

Every error answer is ``{"error": {"code": ..., "message": ..., "details": {...}}}``
with a stable ``code``. A contract revert keeps the custom error's name in
``details.error``; bad input is 422; only a bug in the platform answers 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import revert_args
from api.services.container import services_of
from api.settings import settings_of
from chain.consortium.block_log import BlockTooLarge, LogMismatch
from chain.consortium.etcd import EtcdError, EtcdRequestRejected, EtcdResponseTooLarge
from chain.credit_code import InvalidCreditCode
from chain.errors import (
    ConfigurationError,
    ContractRevert,
    LedgerError,
    LedgerFeatureUnsupported,
    LedgerUnreachable,
    NodeCannotSubmit,
    ReceiptTimeout,
    ScfError,
    TransactionDropped,
    TransactionRefused,
)
from chain.invoice_key import InvalidInvoiceIdentity
from chain.pricing import PricingError
from chain.txmanager import IdempotencyConflict, TransactionSuperseded

log = logging.getLogger(__name__)

# ---- the one table: chain-layer domain errors -> HTTP status ----------------------------------
# The chain layer raises domain errors and knows nothing of HTTP. An error's status is that of
# the nearest class in its MRO listed here; errors the API layer defines itself (it knows
# HTTP) carry theirs as ``http_status``. Anything else is a bug in the platform: 500.
DOMAIN_STATUS: dict[type[ScfError], int] = {
    ScfError: 500,
    ConfigurationError: 500,
    LedgerError: 503,
    LedgerFeatureUnsupported: 501,
    ReceiptTimeout: 504,
    TransactionDropped: 409,
    TransactionRefused: 422,
    NodeCannotSubmit: 409,  # not a 503: nothing to retry at this node (api.client would)
    ContractRevert: 409,  # then by the custom error's name: ``revert_status``
    EtcdError: 503,
    EtcdRequestRejected: 500,
    EtcdResponseTooLarge: 502,
    BlockTooLarge: 413,
    LogMismatch: 500,
    IdempotencyConflict: 422,
    TransactionSuperseded: 409,
    PricingError: 422,
    InvalidCreditCode: 422,
    InvalidInvoiceIdentity: 422,
}

# Reverts that mean "your input is wrong" rather than "the ledger's state forbids it".
UNPROCESSABLE_REVERTS = frozenset(
    {
        "MemberInvalidInput",
        "GovernanceInvalidProposal",
        "InvoiceInvalidInput",
        "InvoiceInvalidIdentity",
        "InvoiceInvalidDates",
        "InvoiceIssueDateInFuture",
        "InvoiceTenorTooLong",
        "CertificateInvalidAmount",
        "CertificateInvalidMaturity",
        "CertificateInvalidInvoiceCount",
        "CertificateBelowMinimumSplit",
        "CreditLineInvalidLimit",
        "CreditLineInvalidExpiry",
    }
)

# Reverts in which the contract says the caller may not do this, so that object-level
# refusals read the same whether the API or the contract made them.
FORBIDDEN_REVERTS = frozenset(
    {
        "CertificateUnauthorizedCaller",
        "CertificateUnauthorizedHolder",
        "CertificateUnauthorizedIssuer",
        "ConsortiumUnauthorizedGovernance",
        "CreditLineUnauthorizedCaller",
        "CreditLineUnauthorizedFinancier",
        "FinancingUnauthorizedFinancier",
        "FinancingUnauthorizedRequester",
        "GovernanceUnauthorizedAccount",
        "InvoiceUnauthorizedBuyer",
        "InvoiceUnauthorizedCaller",
        "InvoiceUnauthorizedSeller",
        "MemberUnauthorizedAccount",
        "SettlementUnauthorizedCaller",
        "SettlementUnauthorizedParticipant",
        "UUPSUnauthorizedCallContext",  # OpenZeppelin: upgrade called on an implementation
    }
)


def revert_status(error_name: str) -> int:
    """422 when the input is wrong; 403 when the caller may not do this; else 409, a revert
    the ledger's state causes."""
    if error_name in UNPROCESSABLE_REVERTS:
        return 422
    if error_name in FORBIDDEN_REVERTS:
        return 403
    return 409


def status_of(exc: ScfError) -> int:
    """The HTTP status of the error ``exc`` (see ``DOMAIN_STATUS``)."""
    if isinstance(exc, ContractRevert):
        return revert_status(exc.error_name)
    declared = getattr(exc, "http_status", None)  # an API-layer error
    if isinstance(declared, int):
        return declared
    return next(DOMAIN_STATUS[c] for c in type(exc).__mro__ if c in DOMAIN_STATUS)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    """The shape of every error answer (documented in OpenAPI)."""

    error: ErrorBody


def error_json(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(status_code=status, content=jsonable_encoder(body))


def refusal_json(exc: ScfError) -> JSONResponse:
    """``exc`` answered by an ASGI layer, outside the app's exception handlers: its
    status, the one error shape, and its headers (``Retry-After`` on a 429 or 503)."""
    response = error_json(status_of(exc), exc.code, exc.message, exc.details)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


async def _scf_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScfError)
    status, message, details = status_of(exc), exc.message, exc.details
    if isinstance(exc, ContractRevert):
        args = revert_args.present(exc.error_name, details.get("args", {}))
        details = {**details, "args": args}
        rendered = ", ".join(f"{k}={v}" for k, v in args.items())
        message = f"{exc.error_name}({rendered})"
    if isinstance(exc, LedgerUnreachable):  # every request fails while it is away: said once
        services_of(request.app).ledger_outage.failed(message)
    elif status >= 500:
        log.error("%s on %s %s: %s", exc.code, request.method, request.url.path, message)
    response = error_json(status, exc.code, message, details)
    response.headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After on 429
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"location": ".".join(str(p) for p in e["loc"]), "problem": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    return error_json(422, "validation_error", "the request is not valid", {"errors": problems})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_json(exc.status_code, code, str(exc.detail))


def pool_exhausted(app: Any) -> JSONResponse:
    """503 ``overloaded`` with ``Retry-After`` for a request that found no free pooled
    connection in time (the pool is sized so that this does not happen: see
    ``api.admission``; if it does anyway, the client is told to come back, not failed)."""
    retry_after = settings_of(app).overload_retry_after_seconds
    log.warning("no pooled SQL connection free in time: answered 503 overloaded")
    response = error_json(
        503,
        "overloaded",
        f"the node's database connections are all in use; retry in {retry_after} s "
        "(with the same Idempotency-Key)",
        {"retry_after": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


async def _pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    return pool_exhausted(request.app)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_json(500, "internal_error", "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ScfError, _scf_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(Exception, _unexpected)
