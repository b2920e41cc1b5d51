"""Serve the embedded node's JSON-RPC over HTTP (single requests and batches)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chain.embedded.rpc import RpcError, RpcHandler

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def _answer(handler: RpcHandler, request: Any) -> dict[str, Any]:
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": INVALID_REQUEST, "message": "invalid request"},
        }
    request_id = request.get("id")
    try:
        result = handler.handle(request["method"], request.get("params") or [])
    except RpcError as exc:
        return {"jsonrpc": "2.0", "id": request_id, "error": exc.as_json()}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def make_server(
    handler: RpcHandler, host: str = "127.0.0.1", port: int = 8545
) -> ThreadingHTTPServer:
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

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                request = json.loads(body)
            except ValueError:
                reply: Any = {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": PARSE_ERROR, "message": "parse error"},
                }
            else:
                if isinstance(request, list):
                    reply = [_answer(handler, r) for r in request]
                else:
                    reply = _answer(handler, request)
            payload = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not worth a log line each

    server = _JsonRpcServer((host, port), JsonRpcRequestHandler)
    server.daemon_threads = True
    return server


class _JsonRpcServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a burst of new connections (an API
    # process opens one per worker thread) overflowed it and the kernel reset the rest.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that closed or reset its connection is no error of the node's: not worth
        # a traceback on the node's console.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="json-rpc", daemon=True)
    thread.start()
    return thread
