"""Serve the embedded node's JSON-RPC over HTTP (single requests and batches).

What a request must pass, in this order, before its body is parsed:

1. the bearer token, when the server has one (``token``; ``nodes.rpc_token`` says when
   the node sets one): 401 before a byte of the body is read;
2. its declared length (``MAX_BODY_BYTES``; no chunked bodies): 411/413, unread;
3. the body must arrive within ``read_timeout`` seconds of the headers: a body slower
   than that, or shorter than its declared length, is answered 408 and the connection
   closed (a lying ``Content-Length`` held a server thread for ever). Every read on the
   connection, the headers' and the wait for the next kept-alive request included,
   gives up after ``read_timeout`` seconds of silence;
4. its nesting (``MAX_JSON_DEPTH``).

Each connection is served by a thread of its own, at most ``max_connections`` at once:
one more is answered 503 with ``Retry-After`` by the listening thread and closed, so a
flood of idle connections costs no thread and no memory beyond the bound.

With ``tls`` (an ``ssl.SSLContext``) each connection is wrapped on its own thread, so a
client slow to shake hands holds up no other (a consortium's history peers over mutual
TLS: ``chain.consortium.peers``). With ``authorize`` too, every request, on a kept-alive
connection as on a new one, is shown the client's certificate once its body is read (so
the client reads the answer): a ``Refusal`` is answered 403 with its code and the
connection closed (``chain.consortium.peer_access``).
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Protocol

from chain.embedded.rpc import INVALID_PARAMS, RpcError
from chain.json_bounds import nesting_exceeds

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
# Bounds checked before a body is read (its length) and before it is parsed (its nesting:
# Python's JSON parser recurses per level, and py-evm and py_ecc raise the interpreter's
# recursion limit, so 70,000 nested brackets overflowed the C stack and ended the
# process). The length is geth's HTTP default; a request nests 5 levels at most
# (eth_getLogs topics in a batch).
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_JSON_DEPTH = 64
# Seconds of silence any read waits for, and seconds a whole body may take after its
# headers. An idle kept-alive connection closes after it too: the node's clients open a
# new one (``chain.backends.scf_node`` retries a request the server had closed on).
READ_TIMEOUT = 30.0
# Connections served at once. The node's own clients keep one per API worker thread
# (64, the read replica and the commands as many again): far below it.
MAX_CONNECTIONS = 512
_BUSY_BODY = json.dumps(
    {"jsonrpc": "2.0", "id": None, "error": {"code": -32005, "message": "too many connections"}}
).encode()
_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)
_READ_CHUNK = 64 * 1024


class Refusal(NamedTuple):
    """Why a client may not use the server: a stable ``code`` and a message for it."""

    code: str
    message: str


# The client's certificate (DER, as the handshake verified it; None without one) to a
# refusal, or None to serve the request.
Authorize = Callable[[bytes | None], Refusal | None]


class Handler(Protocol):
    """What the server answers requests with: ``RpcHandler``, or one that wraps it."""

    def handle(self, method: str, params: list[Any] | None) -> Any: ...


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _answer(handler: Handler, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return _error(INVALID_REQUEST, "invalid request")
    request_id = request.get("id")
    params = request.get("params") or []
    if not isinstance(params, list):
        return _error(INVALID_PARAMS, "params must be an array", request_id)
    try:
        result = handler.handle(request["method"], params)
    except RpcError as exc:
        return {"jsonrpc": "2.0", "id": request_id, "error": exc.as_json()}
    except Exception:  # a request no method foresaw: an answer, never a dropped connection
        log.exception("JSON-RPC %s failed", request["method"])
        return _error(INTERNAL_ERROR, f"internal error in {request['method']}", request_id)
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def make_server(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 8545,
    *,
    token: str | None = None,
    read_timeout: float = READ_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    open_methods: frozenset[str] = frozenset(),
    tls: ssl.SSLContext | None = None,
    authorize: Authorize | None = None,
) -> ThreadingHTTPServer:
    """A JSON-RPC server for ``handler`` on ``host:port``; with ``token``, every request
    must carry ``Authorization: Bearer <token>``, except a single request for one of
    ``open_methods`` (methods that authenticate their caller themselves: a consortium
    peer's signed forward); with ``authorize`` (over ``tls``), every request's client
    certificate must pass it."""
    expected = None if token is None else f"Bearer {token}".encode()

    class JsonRpcRequestHandler(BaseHTTPRequestHandler):
        # Keep-alive: a client's requests reuse one connection (every reply has a length).
        protocol_version = "HTTP/1.1"
        # A reply is small and the client waits for it: send it at once. With Nagle's
        # algorithm on, its body waits for the ACK of its headers, which the client delays
        # by 40 ms: every request took 40 ms.
        disable_nagle_algorithm = True
        # Buffer the reply (flushed after each request) so headers and body leave in one
        # segment instead of two writes.
        wbufsize = -1
        timeout = read_timeout  # socketserver sets it on the connection: every read

        def do_POST(self) -> None:
            authorized = expected is None or self._authorized(expected)
            if not authorized and not open_methods:
                self._refuse_unauthorized()
                return
            declared = self.headers.get("Content-Length", "0").strip()
            if "Transfer-Encoding" in self.headers:
                self._refuse(411, "send the request with a Content-Length")
                return
            if not declared.isdigit():
                self._refuse(400, f"invalid Content-Length: {declared[:40]!r}")
                return
            if int(declared) > MAX_BODY_BYTES:
                self._refuse(413, f"the request body may hold at most {MAX_BODY_BYTES} bytes")
                return
            body = self._read_body(int(declared))
            if body is None:
                self._refuse(408, f"the request body did not arrive within {read_timeout:g}s")
                return
            if authorize is not None:  # after the body: a client reads the refusal whole
                refusal = authorize(self._client_certificate())
                if refusal is not None:
                    self.close_connection = True
                    refused = _error(INVALID_REQUEST, refusal.message)
                    refused["error"]["data"] = {"code": refusal.code}
                    self._reply(403, refused, close=True)
                    return
            if nesting_exceeds(body, MAX_JSON_DEPTH):
                self._reply(200, _error(PARSE_ERROR, f"JSON nests deeper than {MAX_JSON_DEPTH}"))
                return
            try:
                request = json.loads(body)
                parsed = True
            except ValueError:
                request, parsed = None, False
            if not authorized and not (
                isinstance(request, dict) and request.get("method") in open_methods
            ):
                self._refuse_unauthorized()
                return
            if not parsed:
                self._reply(200, _error(PARSE_ERROR, "parse error"))
                return
            if isinstance(request, list):
                self._reply(200, [_answer(handler, r) for r in request])
            else:
                self._reply(200, _answer(handler, request))

        def _client_certificate(self) -> bytes | None:
            if not isinstance(self.connection, ssl.SSLSocket):
                return None
            return self.connection.getpeercert(binary_form=True)

        def _refuse_unauthorized(self) -> None:
            self._refuse(401, "this JSON-RPC needs Authorization: Bearer <the node's token>")

        def _authorized(self, wanted: bytes) -> bool:
            given = self.headers.get("Authorization", "").strip().encode("latin-1", "replace")
            return hmac.compare_digest(given, wanted)  # in constant time

        def _read_body(self, length: int) -> bytes | None:
            """The ``length`` bytes of body, or None if they did not all come within
            ``read_timeout`` seconds (slowly, or never: a length that lies)."""
            deadline = time.monotonic() + read_timeout
            parts: list[bytes] = []
            remaining = length
            try:
                while remaining:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self.connection.settimeout(left)
                    part = self.rfile.read1(min(remaining, _READ_CHUNK))
                    if not part:
                        return None  # the client closed its side before the end
                    parts.append(part)
                    remaining -= len(part)
            except TimeoutError:
                return None
            finally:
                self.connection.settimeout(read_timeout)
            return b"".join(parts)

        def _refuse(self, status: int, message: str) -> None:
            """Answer without reading the body: the connection carries nothing more."""
            self.close_connection = True
            self._reply(status, _error(INVALID_REQUEST, message), close=True)

        def _reply(self, status: int, reply: Any, *, close: bool = False) -> None:
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if close:
                self.send_header("Connection", "close")
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="scf-node JSON-RPC"')
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not worth a log line each

    server = _JsonRpcServer((host, port), JsonRpcRequestHandler, max_connections, tls)
    server.daemon_threads = True
    return server


class _JsonRpcServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a burst of new connections (an API
    # process opens one per worker thread) overflowed it and the kernel reset the rest.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        max_connections: int = MAX_CONNECTIONS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._tls = tls

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._tls is not None:  # the handshake on the connection's own thread
            request.settimeout(READ_TIMEOUT)
            request = self._tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _answer_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts its thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closed or reset its connection, or went silent, is no error of the
        # node's: not worth a traceback on the node's console.
        # Over TLS, a client without an acceptable certificate fails the handshake: its
        # refusal, not the node's error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            if isinstance(sys.exc_info()[1], ssl.SSLError):
                log.info("JSON-RPC over TLS: %s refused: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


def _answer_busy(connection: Any) -> None:
    """Tell a connection beyond the bound to come back, without waiting on it: the reply
    fits the empty send buffer of a new connection, or is dropped."""
    try:
        connection.setblocking(False)
        connection.send(_BUSY_REPLY)
    except OSError:
        pass


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="json-rpc", daemon=True)
    thread.start()
    return thread
