"""FastAPI dependencies as ``Annotated`` aliases (the full-stack template's style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.models import MemberRow
from api.services.api_keys import AuthenticationError, authenticate
from api.services.writer import LedgerWriter
from chain.deploy import Consortium
from chain.errors import ScfError

_bearer = HTTPBearer(auto_error=False, description="the member's API key")


def get_session(request: Request) -> Iterator[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_member(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MemberRow:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("send the API key as `Authorization: Bearer <key>`")
    return authenticate(session, credentials.credentials)


CurrentMember = Annotated[MemberRow, Depends(get_current_member)]


class WritesUnavailable(ScfError):
    code = "writes_unavailable"
    http_status = 503


def get_writer(request: Request) -> LedgerWriter:
    writer: LedgerWriter | None = request.app.state.writer
    if writer is None:
        raise WritesUnavailable("this API node is read-only: it has no ledger writer")
    return writer


def get_consortium(request: Request) -> Consortium:
    consortium: Consortium | None = request.app.state.consortium
    if consortium is None:
        raise WritesUnavailable("this API node knows no consortium deployment")
    return consortium


WriterDep = Annotated[LedgerWriter, Depends(get_writer)]
ConsortiumDep = Annotated[Consortium, Depends(get_consortium)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="the same key with the same body returns the same result, once",
    ),
]
