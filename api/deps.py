"""FastAPI dependencies as ``Annotated`` aliases (the full-stack template's style)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.models import MemberRow
from api.services.api_keys import AuthenticationError, authenticate

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
