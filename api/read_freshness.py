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
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_json
from api.readmodel.reconcile import indexed_block

MIN_BLOCK_HEADER = b"x-min-block"
INDEXED_BLOCK_HEADER = b"x-indexed-block"
BLOCK_NUMBER_HEADER = "X-Block-Number"  # on a write's answer: its transaction's block
POLL_SECONDS = 0.05  # between looks at the read model's cursor while a read waits
MAX_BLOCK = 2**63 - 1  # the read model stores block numbers as 64-bit integers
READS = frozenset({"GET", "HEAD"})


class ReadFreshness:
    """ASGI middleware: hold a read with ``X-Min-Block`` until the read model has indexed
    that block, for at most ``wait_seconds``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        wait_seconds: float,
        retry_after: int,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READS:
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(MIN_BLOCK_HEADER)
        if raw is None:
            await self.app(scope, receive, send)
            return
        wanted = _block_number(raw)
        if wanted is None:
            response = error_json(
                422,
                "invalid_min_block",
                f"X-Min-Block must be a block number from 0 to {MAX_BLOCK}",
                {"header": "X-Min-Block"},
            )
            await response(scope, receive, send)
            return
        indexed = await self._wait_for(wanted)
        if indexed < wanted:
            response = error_json(
                503,
                "read_model_behind",
                f"this node's read model has indexed block {indexed}, not yet block "
                f"{wanted}; retry in {self.retry_after} s (or read through the node that "
                "answered the write)",
                {"min_block": wanted, "indexed_block": indexed, "retry_after": self.retry_after},
            )
            response.headers["Retry-After"] = str(self.retry_after)
            await response(scope, receive, send)
            return

        async def send_with_block(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (INDEXED_BLOCK_HEADER, b"%d" % indexed)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_block)

    async def _wait_for(self, wanted: int) -> int:
        """The read model's block once it is ``wanted`` or later, or when the wait is up."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            indexed = await anyio.to_thread.run_sync(self._indexed)
            if indexed >= wanted or time.monotonic() >= deadline:
                return indexed
            await anyio.sleep(POLL_SECONDS)

    def _indexed(self) -> int:
        with self.sessions() as session:
            found = indexed_block(session)
        return -1 if found is None else found


def _block_number(raw: bytes) -> int | None:
    text = raw.decode("latin-1").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if number <= MAX_BLOCK else None


def block_number_of(receipt: Any) -> str:
    """A receipt's block as the ``X-Block-Number`` header's value."""
    return str(int(receipt["blockNumber"]))
