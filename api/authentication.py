"""Who a request's credentials name: one path, once per request.

Three layers need the member: ``api.body_limits.CredentialsFirst`` (a write is
authenticated before its body is read), the idempotency middleware (a key is scoped to
the member) and the routes (``api.deps.CurrentMember``). Each asks the app's
``Authenticator``; the first to ask reads the credentials, and its answer, the member or
the refusal (401, 403), is kept in the request's scope for the others. The member portal,
which calls the API in process for its signed-in users, names their member there itself
(``Authenticator.named``). A client
certificate (mutual TLS) authenticates on its own; with an API key as well, both must
name the same member. A request kept to run later (``?wait=false``) authenticates again
when it runs, with ``KeptCredentials`` (the key's hash, the certificate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.types import Scope

from api.readmodel.models import MemberRow
from api.services.api_keys import (
    AuthenticationError,
    authenticate,
    authenticate_hash,
    hash_key,
)
from api.services.mtls import member_by_certificate
from chain.errors import ScfError

# What a suspended member may still do: pay what it owes and collect what it is owed.
# Suspension freezes trading, never money owed (issue 21; the ledger has the same rule).
_MONEY_OWED_ROUTES = re.compile(r"^/v1/(repayments|certificates/[0-9]{1,20}/redeem)$")

_KEPT = "scf_kept_credentials"
_MEMBER = "scf_authenticated_member"
_REFUSAL = "scf_authentication_refused"


@dataclass(frozen=True)
class KeptCredentials:
    """How a request authenticated, kept to authenticate it again when it runs later
    (``?wait=false``): its API key only as the SHA-256 the key table holds, its client
    certificate (PEM, public). The member may be suspended or the key revoked by then."""

    api_key_hash: str | None
    client_certificate: str | None


class Authenticator:
    """Authenticates requests against the read model (API keys, members, certificates)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def authenticate(self, scope: Scope, session: Session | None = None) -> MemberRow:
        """The member the request's credentials name, or its ``ScfError`` (401, 403).
        Blocking (reads the database, through ``session`` when given); once per request:
        later calls answer what the first found."""
        known = self.known(scope)
        if known is not None:
            return known
        state = _state(scope)
        try:
            if session is not None:
                member = _member(Request(scope), session)
            else:
                with self._sessions() as own:
                    member = _member(Request(scope), own)
        except ScfError as exc:
            state[_REFUSAL] = exc
            raise
        state[_MEMBER] = member
        return member

    @staticmethod
    def known(scope: Scope) -> MemberRow | None:
        """The member already found for this request (None: not asked yet); raises the
        refusal already given."""
        state = _state(scope)
        refusal: ScfError | None = state.get(_REFUSAL)
        if refusal is not None:
            raise refusal
        member: MemberRow | None = state.get(_MEMBER)
        return member

    @staticmethod
    def named(scope: Scope, member: MemberRow) -> None:
        """Authenticate ``scope`` as ``member``, named by an in-process caller that has
        authenticated its own user and checked the member's status as ``authenticate``
        would (the member portal, ``api.portal.member_api``). The layers and the route then
        take it as they take a member found from credentials; it carries none to keep, so
        such a caller does not ask for ``?wait=false``."""
        _state(scope)[_MEMBER] = member

    @staticmethod
    def has_credentials(scope: Scope) -> bool:
        """Whether the request carries an API key or a client certificate at all."""
        return _bearer_key(scope) is not None or bool(_client_certificates(scope))

    @staticmethod
    def credentials_of(scope: Scope) -> KeptCredentials:
        """The request's credentials, as they can be kept."""
        key = _bearer_key(scope)
        chain = _client_certificates(scope)
        return KeptCredentials(hash_key(key) if key else None, chain[0] if chain else None)

    @staticmethod
    def kept(scope: Scope, credentials: KeptCredentials) -> None:
        """Authenticate ``scope`` (a kept request about to run) with ``credentials``."""
        _state(scope)[_KEPT] = credentials
        if credentials.client_certificate is not None:
            tls = {"client_cert_chain": [credentials.client_certificate]}
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}


def serves_money_owed(request: Request) -> bool:
    """True for the routes a suspended member may use: ``POST /v1/repayments`` and
    ``POST /v1/certificates/{id}/redeem``."""
    return request.method == "POST" and _MONEY_OWED_ROUTES.match(request.url.path) is not None


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def _client_certificates(scope: Scope) -> list[str]:
    """The ASGI TLS extension's client certificates, PEM (``api.services.mtls``)."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain: list[str] = tls.get("client_cert_chain") or []
    return chain


def _bearer_key(scope: Scope) -> str | None:
    """The API key of ``Authorization: Bearer <key>``, read as FastAPI's ``HTTPBearer``
    reads it (which documents the scheme in /openapi.json)."""
    headers = Request(scope).headers
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _member(request: Request, session: Session) -> MemberRow:
    allow_suspended = serves_money_owed(request)
    certified = member_by_certificate(request, session, allow_suspended=allow_suspended)
    member = _keyed_member(request.scope, session, allow_suspended)
    if member is None:
        if certified is not None:
            return certified
        raise AuthenticationError("send the API key as `Authorization: Bearer <key>`")
    if certified is not None and certified.id != member.id:
        raise AuthenticationError(
            "the client certificate and the API key belong to different members",
            details={"certificate_member_id": certified.id, "api_key_member_id": member.id},
        )
    return member


def _keyed_member(scope: Scope, session: Session, allow_suspended: bool) -> MemberRow | None:
    """The member of the request's API key: as sent, or as kept (its hash); None: no key."""
    key = _bearer_key(scope)
    if key is not None:
        return authenticate(session, key, allow_suspended=allow_suspended)
    kept: KeptCredentials | None = _state(scope).get(_KEPT)
    if kept is not None and kept.api_key_hash is not None:
        return authenticate_hash(session, kept.api_key_hash, allow_suspended=allow_suspended)
    return None
