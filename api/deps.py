"""FastAPI dependencies as ``Annotated`` aliases (the full-stack template's style)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Scope
from web3.types import TxReceipt

from api.readmodel.models import MemberRow
from api.services.api_keys import AuthenticationError, ForbiddenError, authenticate
from api.services.documents import DocumentVault
from api.services.mtls import member_by_certificate
from api.services.visibility import is_auditor
from api.services.writer import LedgerWriter
from api.wire import hex0x
from chain.contract import ContractHandle
from chain.deploy import Consortium
from chain.errors import ScfError

_bearer = HTTPBearer(auto_error=False, description="the member's API key")


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency on a
# worker thread, and each such hop costs two thread switches under the GIL per request.


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request (opening one does no I/O; it connects on first use)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


_AUTHENTICATED = "scf_authenticated_member"


def remember_member(scope: Scope, member: MemberRow) -> None:
    """Note that this request's credentials name ``member`` (the idempotency middleware
    authenticates a POST before the route does): the route then takes it as it is."""
    scope.setdefault("state", {})[_AUTHENTICATED] = member


def remembered_member(scope: Scope) -> MemberRow | None:
    """The member ``remember_member`` noted for this request, if any."""
    member: MemberRow | None = scope.get("state", {}).get(_AUTHENTICATED)
    return member


def forget_member(scope: Scope) -> Scope:
    """A copy of ``scope`` whose route authenticates again (a request run later, in the
    background, must not act for a member suspended meanwhile)."""
    state = {k: v for k, v in scope.get("state", {}).items() if k != _AUTHENTICATED}
    return {**scope, "state": state}


async def current_member(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MemberRow:
    """The route's member. A write was authenticated moments ago by the idempotency
    middleware, through its own session: a copy is attached to this one without reading
    it again, on the event loop (no I/O). Anything else reads on a worker thread."""
    known = remembered_member(request.scope)
    if known is not None:
        return session.merge(known, load=False)
    return await anyio.to_thread.run_sync(get_current_member, request, session, credentials)


# What a suspended member may still do: pay what it owes and collect what it is owed.
# Suspension freezes trading, never money owed (issue 21; the ledger has the same rule).
_MONEY_OWED_ROUTES = re.compile(r"^/v1/(repayments|certificates/[0-9]{1,20}/redeem)$")


def serves_money_owed(request: Request) -> bool:
    """True for the routes a suspended member may use: ``POST /v1/repayments`` and
    ``POST /v1/certificates/{id}/redeem``."""
    return request.method == "POST" and _MONEY_OWED_ROUTES.match(request.url.path) is not None


def get_current_member(
    request: Request,
    session: Session,
    credentials: HTTPAuthorizationCredentials | None,
) -> MemberRow:
    """Who the request's credentials name (blocking: reads the database)."""
    # A client certificate (mutual TLS) authenticates on its own; with an API key as well,
    # both must name the same member.
    allow_suspended = serves_money_owed(request)
    certified = member_by_certificate(request, session, allow_suspended=allow_suspended)
    if credentials is None or credentials.scheme.lower() != "bearer":
        if certified is not None:
            return certified
        raise AuthenticationError("send the API key as `Authorization: Bearer <key>`")
    member = authenticate(session, credentials.credentials, allow_suspended=allow_suspended)
    if certified is not None and certified.id != member.id:
        raise AuthenticationError(
            "the client certificate and the API key belong to different members",
            details={"certificate_member_id": certified.id, "api_key_member_id": member.id},
        )
    return member


CurrentMember = Annotated[MemberRow, Depends(current_member)]


class AuditorReadOnly(ForbiddenError):
    code = "auditor_read_only"


async def writing_member(member: CurrentMember) -> MemberRow:
    """The route's member, refused if it is an auditor: auditors read everything and
    write nothing, off chain (documents, webhooks) as on chain."""
    if is_auditor(member):
        raise AuditorReadOnly(
            "auditors read everything and write nothing", details={"member_id": member.id}
        )
    return member


WritingMember = Annotated[MemberRow, Depends(writing_member)]


class WritesUnavailable(ScfError):
    code = "writes_unavailable"
    http_status = 503


def node_vault(request: Request, refusal: str) -> DocumentVault:
    """The node's data key (documents, webhook secrets); 503 ``refusal`` on an API
    that has none."""
    vault: DocumentVault | None = getattr(request.app.state, "document_vault", None)
    if vault is None:
        raise WritesUnavailable(refusal)
    return vault


async def get_writer(request: Request) -> LedgerWriter:
    writer: LedgerWriter | None = request.app.state.writer
    if writer is None:
        raise WritesUnavailable("this API node is read-only: it has no ledger writer")
    return writer


async def get_consortium(request: Request) -> Consortium:
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


@dataclass
class Write:
    """Everything a write route needs: who acts, the SQL session, the ledger writer, the
    consortium and the request's Idempotency-Key; ``send`` reports the transaction hash."""

    member: MemberRow
    session: Session
    writer: LedgerWriter
    consortium: Consortium
    response: Response
    idempotency_key: str | None

    def send(
        self, contract: ContractHandle, function: str, *args: Any, step: str = ""
    ) -> TxReceipt:
        """Write ``function(*args)`` as the member; ``step`` keeps a route's second
        transaction (a token allowance) apart under the same Idempotency-Key."""
        key = self.idempotency_key
        if key is not None and step:
            key = f"{key}:{step}"
        receipt = self.writer.write(
            self.session, self.member, contract, function, *args, idempotency_key=key
        )
        if not step:
            self.response.headers["X-Transaction-Hash"] = hex0x(receipt["transactionHash"])
        return receipt

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the member's write lock: a token allowance and the action that spends it run
        back to back, so a concurrent approval by the same member cannot overwrite the
        allowance in between (ERC-20 ``approve`` sets, it does not add)."""
        with self.writer.member_lock(self.member.id):
            yield


async def get_member_write(
    member: CurrentMember,
    session: SessionDep,
    writer: WriterDep,
    consortium: ConsortiumDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Write:
    """A write by the request's member, whatever its business roles: a governor's committee
    work (the committee decides who may; the consortium operator is an auditor and a
    governor)."""
    return Write(member, session, writer, consortium, response, idempotency_key)


GovernanceWriteDep = Annotated[Write, Depends(get_member_write)]


async def get_write(_writer: WritingMember, write: GovernanceWriteDep) -> Write:
    """A member's business write; an auditor's is refused before anything is signed."""
    return write


WriteDep = Annotated[Write, Depends(get_write)]
