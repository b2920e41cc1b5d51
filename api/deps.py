"""FastAPI dependencies as ``Annotated`` aliases (the full-stack template's style)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from web3.types import TxReceipt

from api.authentication import Authenticator
from api.read_freshness import BLOCK_NUMBER_HEADER, block_number_of
from api.readmodel.models import MemberRow
from api.services.api_keys import ForbiddenError
from api.services.container import ApiServices, services_of
from api.services.documents import DocumentVault
from api.services.visibility import is_auditor
from api.services.writer import LedgerWriter
from api.wire import hex0x
from chain.contract import ContractHandle
from chain.deploy import Consortium
from chain.errors import ScfError

_bearer = HTTPBearer(auto_error=False, description="the member's API key")


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency on a
# worker thread, and each such hop costs two thread switches under the GIL per request.


async def get_services(request: Request) -> ApiServices:
    """The app's services (``api.services.container``), built once with the app."""
    return services_of(request.app)


ServicesDep = Annotated[ApiServices, Depends(get_services)]


async def get_session(services: ServicesDep) -> AsyncIterator[Session]:
    """A session for the request (opening one does no I/O; it connects on first use)."""
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def current_member(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    # read by the authenticator; declared so that /openapi.json shows the scheme
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MemberRow:
    """The route's member (``api.authentication``). A write was authenticated moments ago
    by a middleware, through its own session: a copy is attached to this one without
    reading it again, on the event loop (no I/O). Anything else reads on a worker thread."""
    known = Authenticator.known(request.scope)  # raises the refusal already given
    if known is not None:
        return session.merge(known, load=False)
    authenticate = services.authenticator.authenticate
    return await anyio.to_thread.run_sync(authenticate, request.scope, session)


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
    vault = services_of(request.app).document_vault
    if vault is None:
        raise WritesUnavailable(refusal)
    return vault


async def get_writer(services: ServicesDep) -> LedgerWriter:
    writer = services.writer
    if writer is None:
        raise WritesUnavailable("this API node is read-only: it has no ledger writer")
    return writer


async def get_consortium(services: ServicesDep) -> Consortium:
    consortium = services.consortium
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
        # the latest block of the write: a read elsewhere asks for it (X-Min-Block)
        self.response.headers[BLOCK_NUMBER_HEADER] = block_number_of(receipt)
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
