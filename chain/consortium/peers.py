"""Blocks older than etcd's window, from a peer node (docs/decisions/0020, 0023).

Each consortium node keeps every block with its seal (ADR 18) and serves them on its
ledger JSON-RPC behind the server's bearer token (``serve_history``: for nodes on one
machine, whose JSON-RPC is on loopback), and, between institutions, on a peer endpoint
of its own over mutual TLS with the consortium CA (``serve_history_over_tls``): only a
client holding a certificate of the consortium CA passes the handshake, each request must
come from a node the NodeRegistry has not removed (``chain.consortium.peer_access``:
else HTTP 403 with the refusal's code), and the endpoint answers the two history methods
and nothing else:

- ``scf_getHeaders(first, count)``: the RLP of the canonical headers from height
  ``first`` on, at most ``MAX_HEADERS`` and never past the node's head;
- ``scf_getSealedBlocks(first, count)``: the log entries (``rlp([block RLP, seal])``,
  as etcd holds them) of the blocks from ``first`` on, at most ``MAX_BLOCKS`` and about
  ``MAX_PAGE_BYTES``, never past the head; always at least one block when there is one.

Answers are hex strings, consecutive from ``first``; an empty list past the head. Both
may be shorter than asked. ``PeerClient`` asks them, bounding what it reads; to an
``https`` peer it presents this node's certificate (``Peer.context``). Nothing a peer
says is trusted: ``chain.consortium.catch_up`` checks every header against the
chain the log commits to, and re-executes every block.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import rlp  # type: ignore[import-untyped]
from eth_typing import BlockNumber

from chain.consortium.allow_list import AllowList
from chain.consortium.peer_access import PeerAccess
from chain.consortium.seal import encode_entry
from chain.embedded.http import make_server
from chain.embedded.node import EmbeddedNode
from chain.embedded.rpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    RpcError,
    RpcHandler,
    data,
    parse_qty,
)
from chain.errors import LedgerError

HEADERS_METHOD = "scf_getHeaders"
SEALED_BLOCKS_METHOD = "scf_getSealedBlocks"
MAX_HEADERS = 256  # a header's RLP is about 600 bytes: a page of them is small
MAX_BLOCKS = 64
MAX_PAGE_BYTES = 4 * 1024 * 1024  # entries' bytes in one answer (a block may be 1 MiB)
# What a client reads of one answer at most: the page's bytes twice over (hex), and room
MAX_ANSWER_BYTES = 2 * (MAX_PAGE_BYTES + 1024 * 1024) + 64 * 1024
DEFAULT_TIMEOUT = 10.0  # seconds for one request to a peer


@dataclass(frozen=True)
class Peer:
    """Another node's history: its ledger JSON-RPC and the bearer token it wants (None:
    none), or its ``https`` peer endpoint and the TLS ``context`` that presents this
    node's certificate (``chain.consortium.tls.peer_context``)."""

    url: str
    token: str | None = None
    context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)


class PeerUnavailable(LedgerError):
    """A peer did not answer, or not in the protocol's shape."""

    code = "peer_unavailable"


class PeerRefusedUs(PeerUnavailable):
    """A peer refused this node (HTTP 403): its certificate names no node, or a node the
    NodeRegistry removed."""

    code = "peer_refused"


def _refusal(raw: bytes) -> str:
    """The code and message of a 403's JSON-RPC error, as far as it says them."""
    try:
        error = json.loads(raw)["error"]
        return f"{error['data']['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return "HTTP 403"


# ---- the serving side -------------------------------------------------------------------
def serve_history(handler: RpcHandler) -> None:
    """Answer the history methods on ``handler`` (the node's JSON-RPC)."""
    node = handler.node
    handler.register(HEADERS_METHOD, lambda first, count: headers(node, first, count))
    handler.register(SEALED_BLOCKS_METHOD, lambda first, count: sealed_blocks(node, first, count))


class HistoryHandler:
    """The history methods alone, for the peer endpoint: a node of another institution
    reads the chain's blocks there, and nothing else of this node."""

    def __init__(self, node: EmbeddedNode) -> None:
        self.node = node

    def handle(self, method: str, params: list[Any] | None) -> Any:
        answer = {HEADERS_METHOD: headers, SEALED_BLOCKS_METHOD: sealed_blocks}.get(method)
        if answer is None:
            raise RpcError(METHOD_NOT_FOUND, f"the peer endpoint answers no {method}")
        try:
            first, count = params or []
        except ValueError:
            raise RpcError(INVALID_PARAMS, f"{method} takes (first, count)") from None
        return answer(self.node, first, count)


def serve_history_over_tls(
    node: EmbeddedNode, context: ssl.SSLContext, host: str, port: int, allow_list: AllowList
) -> ThreadingHTTPServer:
    """The peer endpoint on ``host:port`` (not yet serving: ``serve_in_background``).
    ``context`` requires a client certificate of the consortium CA
    (``chain.consortium.tls.peer_context(..., server=True)``); ``allow_list`` (the
    node's) answers whether the node a certificate names was removed."""
    access = PeerAccess(node, allow_list)
    return make_server(HistoryHandler(node), host, port, tls=context, authorize=access)


def _page(first: object, count: object, most: int, head: int) -> range:
    start, wanted = parse_qty(first), parse_qty(count)  # type: ignore[arg-type]
    if start < 1 or wanted < 1:
        raise RpcError(INVALID_PARAMS, "ask for one block or more, from height 1")
    return range(start, min(head, start + min(wanted, most) - 1) + 1)


def headers(node: EmbeddedNode, first: object, count: object) -> list[str]:
    heights = _page(first, count, MAX_HEADERS, int(node.head.block_number))
    reader = node.reader
    return [
        data(rlp.encode(reader.get_canonical_block_header_by_number(BlockNumber(n))))
        for n in heights
    ]


def sealed_blocks(node: EmbeddedNode, first: object, count: object) -> list[str]:
    heights = _page(first, count, MAX_BLOCKS, int(node.head.block_number))
    entries: list[str] = []
    size = 0
    for number in heights:
        block = node.reader.get_canonical_block_by_number(BlockNumber(number))
        seal = node.seal_of(bytes(block.hash))
        if seal is None:  # a block minted before this node kept seals, or not in a consortium
            raise RpcError(SERVER_ERROR, f"block {number} has no seal on this node")
        entry = encode_entry(block, seal)
        if entries and size + len(entry) > MAX_PAGE_BYTES:
            break
        entries.append(data(entry))
        size += len(entry)
    return entries


# ---- the asking side --------------------------------------------------------------------
class PeerClient:
    """The history methods of one peer."""

    def __init__(self, peer: Peer, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.peer = peer
        headers = {"Authorization": f"Bearer {peer.token}"} if peer.token else {}
        verify: ssl.SSLContext | bool = peer.context if peer.context is not None else True
        self._http = httpx.Client(headers=headers, timeout=timeout, verify=verify)
        self._next_id = 0

    def close(self) -> None:
        self._http.close()

    def headers(self, first: int, count: int) -> list[bytes]:
        return self._page(HEADERS_METHOD, first, count)

    def sealed_blocks(self, first: int, count: int) -> list[bytes]:
        return self._page(SEALED_BLOCKS_METHOD, first, count)

    def _page(self, method: str, first: int, count: int) -> list[bytes]:
        answer = self._call(method, [hex(first), hex(count)])
        if not isinstance(answer, list) or len(answer) > count:
            raise PeerUnavailable(f"{self.peer.url}: {method} answered no page of {count}")
        return [_bytes(item, self.peer.url, method) for item in answer]

    def _call(self, method: str, params: list[Any]) -> Any:
        self._next_id += 1
        body = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        try:
            with self._http.stream("POST", self.peer.url, json=body) as response:
                raw = _read_bounded(response.iter_bytes(), MAX_ANSWER_BYTES)
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"{self.peer.url}: {method}: {exc!r}"[:300]) from None
        if raw is None:
            raise PeerUnavailable(f"{self.peer.url}: {method} answered over {MAX_ANSWER_BYTES} B")
        if response.status_code == 403:  # the peer refuses this node: say why
            raise PeerRefusedUs(f"{self.peer.url}: {method}: {_refusal(raw)}"[:400])
        if response.status_code != 200:
            raise PeerUnavailable(f"{self.peer.url}: {method}: HTTP {response.status_code}")
        try:
            reply = json.loads(raw)
        except ValueError:
            raise PeerUnavailable(f"{self.peer.url}: {method} answered no JSON") from None
        if not isinstance(reply, dict):
            raise PeerUnavailable(f"{self.peer.url}: {method} answered no JSON-RPC reply")
        if "error" in reply:
            message = str(reply["error"].get("message") if isinstance(reply["error"], dict) else "")
            raise PeerUnavailable(f"{self.peer.url}: {method}: {message[:200]}")
        return reply.get("result")


def _read_bounded(chunks: Iterator[bytes], most: int) -> bytes | None:
    """The whole body, or None once it passes ``most`` bytes (read no further)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > most:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _bytes(item: object, url: str, method: str) -> bytes:
    if isinstance(item, str) and item.startswith("0x"):
        try:
            return bytes.fromhex(item[2:])
        except ValueError:
            pass
    raise PeerUnavailable(f"{url}: {method} answered something other than hex data")
