"""The node's own REST API, called in process as one member.

Every portal page reads and every form writes through the same routes a machine client
calls — same validation, idempotency, admission, contract calls and error codes — so the
portal holds no business logic of its own (issue 25). The portal has authenticated its
user; it names the user's member to the API in the request's scope, where the API's one
authentication path keeps the member it found (``Authenticator.named``), having checked
the member's status with the rule that path applies (``require_status``): every layer
and the route then take that member. No API key is involved or exposed, so no call asks
for ``?wait=false`` (an operation kept to run later authenticates again from the
request's credentials).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.authentication import Authenticator, serves_money_owed
from api.errors import status_of
from api.readmodel.models import MemberRow
from api.services.api_keys import require_status
from chain.errors import ScfError

_BASE = "http://portal.internal"


@dataclass
class ApiRefusal(Exception):
    """An error answer of the REST API: its status and the JSON error's fields."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def revert(self) -> str | None:
        """The contract's custom error's name, for a refusal by the ledger."""
        name = self.details.get("error")
        return name if isinstance(name, str) else None


class MemberApi:
    """REST calls as member ``member_id`` against ``app`` (the node's whole ASGI stack)."""

    def __init__(self, app: ASGIApp, sessions: sessionmaker[Session], member_id: int) -> None:
        self._app = app
        self._sessions = sessions
        self.member_id = member_id

    async def get(self, path: str, **params: Any) -> Any:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, body: Any, *, idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self._call("POST", path, json=body, headers=headers)

    async def store_document(
        self,
        filename: str,
        content_type: str,
        content: bytes,
        party_ids: list[int],
        *,
        idempotency_key: str,
    ) -> str:
        """Store ``content`` for the member and ``party_ids`` (``POST /v1/documents``) and
        return its hash, the name a ledger call gives it."""
        stored = await self.post(
            "/v1/documents",
            {
                "filename": filename[:256],
                "content_type": content_type,
                "content": base64.b64encode(content).decode(),
                "party_ids": party_ids,
            },
            idempotency_key=idempotency_key,
        )
        return str(stored["hash"])

    async def _call(self, method: str, path: str, **request: Any) -> Any:
        member = await anyio.to_thread.run_sync(self._member, method, path)

        async def as_member(scope: Scope, receive: Receive, send: Send) -> None:
            Authenticator.named(scope, member)
            await self._app(scope, receive, send)

        transport = httpx.ASGITransport(app=as_member)
        async with httpx.AsyncClient(transport=transport, base_url=_BASE) as client:
            answer = await client.request(method, path, **request)
        if answer.is_success:
            return answer.json() if answer.content else None
        try:
            error = answer.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "http_error", "message": answer.text[:200]}
        raise ApiRefusal(
            answer.status_code, str(error["code"]), str(error["message"]), error.get("details", {})
        )

    async def stream(
        self, path: str, query: dict[str, str], headers: dict[str, str], *, lifetime: float
    ) -> Response:
        """``GET path`` relayed to the browser as the API sends it (Server-Sent Events):
        the API's status, headers and body, message by message, for as long as it streams
        and the browser stays, but at most ``lifetime`` seconds: then it ends, and the
        browser's reconnection is checked again (the session may have ended)."""
        member = await anyio.to_thread.run_sync(self._member, "GET", path)
        return _Relayed(self._app, member, path, urlencode(query), headers, lifetime)

    def _member(self, method: str, path: str) -> MemberRow:
        """The member as it is now, refused as its API key would be when not active."""
        with self._sessions() as session:
            member = session.get(MemberRow, self.member_id)
            if member is None:
                raise ApiRefusal(401, "unauthenticated", "the member is not in the read model")
            probe = Request({"type": "http", "method": method, "path": path, "headers": []})
            try:
                require_status(member, allow_suspended=serves_money_owed(probe))
            except ScfError as exc:
                raise ApiRefusal(status_of(exc), exc.code, exc.message, exc.details) from None
            return member


class _Relayed(Response):
    """An answer of the API, as the member, passed through to the portal's client."""

    def __init__(
        self,
        app: ASGIApp,
        member: MemberRow,
        path: str,
        query: str,
        headers: dict[str, str],
        lifetime: float,
    ) -> None:
        self.background = None
        self._app, self._member, self._path, self._query = app, member, path, query
        self._sent = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self._lifetime = lifetime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relayed: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": self._path,
            "raw_path": self._path.encode(),
            "root_path": "",
            "query_string": self._query.encode(),
            "headers": [(b"host", b"portal.internal"), *self._sent],
            "client": scope.get("client"),
            "server": ("portal.internal", 80),
            "state": {},
        }
        Authenticator.named(relayed, self._member)
        started = ended = False

        async def send_until_ended(message: Message) -> None:
            nonlocal started, ended
            started = started or message["type"] == "http.response.start"
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended = True
            await send(message)

        with anyio.move_on_after(self._lifetime):
            await self._app(relayed, receive, send_until_ended)
        if not started:  # nothing came in its lifetime: an empty stream, reconnected to
            headers = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        if not ended:  # cut at its lifetime: the body ends here, the browser reconnects
            await send({"type": "http.response.body", "body": b"", "more_body": False})
