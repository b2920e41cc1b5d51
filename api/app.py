"""The FastAPI application factory: routes under /v1, health, one error shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ErrorResponse, install_error_handlers
from api.routes import (
    certificates,
    credit_lines,
    financing,
    invoices,
    maturity,
    members,
    settlement,
)
from api.services.writer import LedgerWriter
from chain.deploy import Consortium
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
    app = FastAPI(
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
    install_error_handlers(app)
    app.include_router(members.router)
    app.include_router(certificates.router)
    app.include_router(invoices.router)
    app.include_router(credit_lines.router)
    app.include_router(settlement.router)
    app.include_router(financing.router)
    app.include_router(maturity.router)

    @app.get("/healthz", tags=["operations"])
    def get_health() -> dict[str, Any]:
        """Liveness and the ledger's head: 200 when the ledger answers."""
        head = ledger.get_block("latest")
        return {
            "status": "ok",
            "chain_id": ledger.chain_id,
            "head_block": int(head["number"]),
            "head_time": int(head["timestamp"]),
        }

    return app
