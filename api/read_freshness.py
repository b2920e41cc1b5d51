"""Reads at least as fresh as a block the client knows: read-your-writes across nodes.

A write answers with the block that holds its transaction (``X-Block-Number``, beside
``X-Transaction-Hash``), and the node that answered has indexed that block into its read
model before answering. Another node of a consortium imports the block a moment later
and indexes it on its next pass: a read there may not show the write yet. A read
(GET, HEAD) that carries ``X-Min-Block: N`` is answered only from a read model that has
indexed block N: it waits for that at most ``read_min_block_wait_seconds`` (5 s by
default, never unbounded), then answers 503 ``read_model_behind`` with ``Retry-After``.
A read served this way says which block its read model had reached
(``X-Indexed-Block``). Without the header nothing changes.

A wait holds one of admission control's places (``api.admission``), so only a member
may wait: the request is authenticated first, as ``api.body_limits.CredentialsFirst``
authenticates a write, and the member (or the refusal) is kept for the route. A request
that does not authenticate as a member (no credentials, a wrong key, a suspended member)
is passed on at once as if it had no header: the route answers its 401/403, or serves a
read that needs no member. Before waiting, a block more than ``MAX_BLOCKS_AHEAD`` past
the ledger's head is refused at once (409 ``min_block_ahead_of_ledger``): no read model
indexes that many blocks within the longest wait.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.authentication import Authenticator
from api.errors import error_json, pool_exhausted, refusal_json
from api.health import LedgerHead
from api.readmodel.reconcile import indexed_block
from api.services.container import services_of
from api.settings import settings_of
from chain.errors import LedgerError, ScfError

MIN_BLOCK_HEADER = b"x-min-block"
INDEXED_BLOCK_HEADER = b"x-indexed-block"
BLOCK_NUMBER_HEADER = "X-Block-Number"  # on a write's answer: its transaction's block
POLL_SECONDS = 0.05  # between looks at the read model's cursor while a read waits
MAX_BLOCK = 2**63 - 1  # the read model stores block numbers as 64-bit integers
# how far past the ledger's head a read may ask: far more blocks than a read model
# indexes within the longest wait (30 s), so a refusal answers at once what waiting
# would have answered late
MAX_BLOCKS_AHEAD = 100_000
READS = frozenset({"GET", "HEAD"})


class ReadFreshness:
    """ASGI middleware: hold a member's read with ``X-Min-Block`` until the read model has
    indexed that block, for at most the app's ``read_min_block_wait_seconds``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        head: LedgerHead,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READS:
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(MIN_BLOCK_HEADER)
        if raw is None:
            await self.app(scope, receive, send)
            return
        try:
            refusal, indexed = await self._fresh_enough(scope, raw)
        except PoolTimeout:
            refusal, indexed = pool_exhausted(scope["app"]), None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if indexed is None:  # no member: answered as without the header
            await self.app(scope, receive, send)
            return

        async def send_with_block(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (INDEXED_BLOCK_HEADER, b"%d" % indexed)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_block)

    async def _fresh_enough(self, scope: Scope, raw: bytes) -> tuple[Response | None, int | None]:
        """The refusal to answer, or the read model's block once it has reached the one
        asked for (None: the request is no member's and does not wait)."""
        if not await _authenticated(scope):
            return None, None
        settings = settings_of(scope["app"])
        wanted = _block_number(raw)
        if wanted is None:
            return _invalid(), None
        indexed = await anyio.to_thread.run_sync(self._indexed)
        if indexed < wanted:
            try:
                head = (await self.head.read()).number
            except LedgerError as exc:
                return refusal_json(exc), None
            if wanted > head + MAX_BLOCKS_AHEAD:
                return _ahead_of_ledger(wanted, head), None
            indexed = await self._wait_for(wanted, settings.read_min_block_wait_seconds)
        if indexed < wanted:
            return _behind(wanted, indexed, settings.overload_retry_after_seconds), None
        return None, indexed

    async def _wait_for(self, wanted: int, wait_seconds: float) -> int:
        """The read model's block once it is ``wanted`` or later, or when the wait is up."""
        deadline = time.monotonic() + wait_seconds
        while True:
            indexed = await anyio.to_thread.run_sync(self._indexed)
            if indexed >= wanted or time.monotonic() >= deadline:
                return indexed
            await anyio.sleep(POLL_SECONDS)

    def _indexed(self) -> int:
        with self.sessions() as session:
            found = indexed_block(session)
        return -1 if found is None else found


async def _authenticated(scope: Scope) -> bool:
    """Whether the request's credentials name a member: found once, on a worker thread,
    and kept in the scope for the route (as is a refusal, which the route answers)."""
    try:
        if Authenticator.known(scope) is not None:  # named in process (the member portal)
            return True
    except ScfError:
        return False
    if not Authenticator.has_credentials(scope):
        return False
    authenticate = services_of(scope["app"]).authenticator.authenticate
    try:
        await anyio.to_thread.run_sync(authenticate, scope)
    except ScfError:
        return False
    return True


def _behind(wanted: int, indexed: int, retry_after: int) -> Response:
    response = error_json(
        503,
        "read_model_behind",
        f"this node's read model has indexed block {indexed}, not yet block {wanted}; "
        f"retry in {retry_after} s (or read through the node that answered the write)",
        {"min_block": wanted, "indexed_block": indexed, "retry_after": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def _invalid() -> Response:
    return error_json(
        422,
        "invalid_min_block",
        f"X-Min-Block must be a block number from 0 to {MAX_BLOCK}",
        {"header": "X-Min-Block"},
    )


def _ahead_of_ledger(wanted: int, head: int) -> Response:
    return error_json(
        409,
        "min_block_ahead_of_ledger",
        f"block {wanted} is more than {MAX_BLOCKS_AHEAD} blocks past this node's ledger "
        f"head ({head}): no read would reach it within the wait; send the block a write "
        "answered in X-Block-Number (or read through the node that answered the write)",
        {"min_block": wanted, "head_block": head, "max_blocks_ahead": MAX_BLOCKS_AHEAD},
    )


def _block_number(raw: bytes) -> int | None:
    text = raw.decode("latin-1").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number <= MAX_BLOCK else None


def block_number_of(receipt: Any) -> str:
    """A receipt's block as the ``X-Block-Number`` header's value."""
    return str(int(receipt["blockNumber"]))
