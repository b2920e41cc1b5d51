"""Node to node document transport: HTTPS with client certificates of the consortium CA.

The server (``DocumentPeerServer``) listens beside the API on a port of its own: it asks
every client for a certificate and takes only one the consortium CA signed; anything
else fails the TLS handshake. Every request must then come with a node's certificate
(one that names its node, issued at ``init --consortium`` or by ``scf-node node
certify``): an etcd member's, from the same CA, is answered 403 ``peer_not_a_node``
(``chain.consortium.peer_access``). The certificate's SHA-256 goes to
``Receiver.accept``, which holds it to the certificate the sending node's home claims
name. The client (``HttpsTransport``)
presents its own node certificate, trusts only the consortium CA and checks that the
server's certificate is the one the receiving node's home claim names.

The TLS context is ``chain.consortium.tls``'s, as for the history peers. The standard
library's ``http.server`` suffices: one POST route, and it exposes the
client's verified certificate, which an ASGI server behind uvicorn does not.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from api.services.document_exchange import (
    Accepted,
    Envelope,
    FetchRequest,
    HomeClaim,
    NodeIdentity,
    PeerRefused,
    Receiver,
    certificate_fingerprint,
)
from api.services.peer_homes import HOMES_PATH, OwnClaims, claims_answer, endpoint_connection
from chain.consortium.peer_access import node_refusal
from chain.consortium.tls import peer_context as peer_context  # where the peers import it
from chain.json_bounds import nesting_exceeds

log = logging.getLogger(__name__)

PEER_PATH = "/peer/v1/documents"
FETCH_PATH = "/peer/v1/documents/fetch"  # a node asks again for a document it lost
TIMEOUT = 10.0
ENVELOPE_OVERHEAD = 64 * 1024  # JSON and base64 around the content


MAX_JSON_DEPTH = 8  # an envelope or a fetch request nests two levels


class _Handler(BaseHTTPRequestHandler):
    server: DocumentPeerServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        """The home claims this node published (``api.services.peer_homes``): only on an
        external network's node; an etcd node's claims are on etcd."""
        if self._refused():
            return
        own = self.server.own_claims
        if own is None or not self.path.startswith(HOMES_PATH):
            self._answer(404, {"code": "not_found", "message": f"no route {self.path}"})
            return
        self._answer(*claims_answer(own, self.path))

    def do_POST(self) -> None:
        if self.path not in (PEER_PATH, FETCH_PATH):
            self._answer(404, {"code": "not_found", "message": f"no route {self.path}"})
            return
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():  # "-1" would have read until the peer closed
            self._answer(400, {"code": "invalid_request", "message": "invalid Content-Length"})
            self.close_connection = True
            return
        length = int(declared)
        if length > self.server.max_body:
            self._answer(413, {"code": "payload_too_large", "message": "envelope too large"})
            self.close_connection = True
            return
        assert isinstance(self.connection, ssl.SSLSocket)
        der = self.connection.getpeercert(binary_form=True)
        peer = certificate_fingerprint(der) if der else None
        body = self.rfile.read(length)
        if self._refused():  # after the (bounded) body: a client reads a refusal it sent into
            return
        # checked before parsing, as the API's bodies and the JSON-RPC's are: a deep body
        # overflows the C stack (py_ecc raises the recursion limit in this process)
        if nesting_exceeds(body, MAX_JSON_DEPTH):
            self._answer(400, {"code": "invalid_request", "message": "the body nests too deep"})
            return
        try:
            raw = json.loads(body)
            if self.path == FETCH_PATH:
                found = self.server.receiver.serve_fetch(FetchRequest.from_json(raw), peer)
                self._answer(200, found.to_json())
                return
            accepted = self.server.receiver.accept(Envelope.from_json(raw), peer)
        except PeerRefused as exc:
            log.warning("document request from %s refused: %s", peer, exc.message)
            self._answer(exc.http_status, {"code": exc.code, "message": exc.message})
            return
        except ValueError:
            self._answer(400, {"code": "invalid_request", "message": "the body is no JSON"})
            return
        self._answer(
            201 if accepted.created else 200,
            {"document_id": accepted.document_id, "recipients": list(accepted.recipients)},
        )

    def _refused(self) -> bool:
        """Answer 403 unless the client's certificate is a node's."""
        assert isinstance(self.connection, ssl.SSLSocket)
        _, refusal = node_refusal(self.connection.getpeercert(binary_form=True))
        if refusal is None:
            return False
        log.warning("document peer: %s refused: %s", self.client_address, refusal.code)
        self.close_connection = True
        self._answer(403, {"code": refusal.code, "message": refusal.message})
        return True

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("document peer: " + format, *args)


class DocumentPeerServer(ThreadingHTTPServer):
    """The node's document endpoint; ``start`` serves on a thread, ``stop`` ends it."""

    daemon_threads = True

    def __init__(
        self,
        receiver: Receiver,
        context: ssl.SSLContext,
        host: str,
        port: int,
        max_bytes: int,
        own_claims: OwnClaims | None = None,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.receiver = receiver
        self.own_claims = own_claims  # served to peers on an external network
        self.context = context
        self.max_body = max_bytes * 4 // 3 + ENVELOPE_OVERHEAD
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"https://{host!s}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        # the handshake on the request's own thread: a slow client holds up no other
        request.settimeout(TIMEOUT)
        wrapped = self.context.wrap_socket(request, server_side=True)
        super().finish_request(wrapped, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client without a consortium certificate fails the handshake: not our fault
        log.info("document peer: connection from %s failed", client_address, exc_info=True)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, name="document-peer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()


class HttpsTransport:
    """Talks to other nodes' document endpoints with this node's certificate, and only
    once the server's certificate is the one the home claim named (checked before a byte
    is sent)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context

    def send(self, url: str, certificate: str, envelope: Envelope) -> tuple[int, str]:
        status, answer = self._post(url, certificate, PEER_PATH, envelope.to_json(), 300)
        return status, answer.decode("utf-8", "replace")

    def fetch(self, url: str, certificate: str, request: FetchRequest) -> Envelope:
        """The document a node serves for ``request``; ``PeerRefused`` with its answer if
        it refuses."""
        status, answer = self._post(url, certificate, FETCH_PATH, request.to_json(), None)
        if status != 200:
            refusal = PeerRefused(answer[:300].decode("utf-8", "replace"))
            refusal.http_status = status
            raise refusal
        return Envelope.from_json(json.loads(answer))

    def _post(
        self, url: str, certificate: str, path: str, body: dict[str, Any], limit: int | None
    ) -> tuple[int, bytes]:
        connection = endpoint_connection(url, self._context, TIMEOUT)
        try:
            connection.connect()
            assert isinstance(connection.sock, ssl.SSLSocket)
            der = connection.sock.getpeercert(binary_form=True)
            if der is None or certificate_fingerprint(der) != certificate:
                # a claim's URL leads to another node: never hand it the document
                raise ssl.SSLError(f"{url} presents another certificate than its home claims")
            connection.request(
                "POST",
                path,
                body=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            return response.status, response.read(limit) if limit else response.read()
        finally:
            connection.close()


def fetch_again(
    transport: HttpsTransport,
    receiver: Receiver,
    identity: NodeIdentity,
    source: HomeClaim,
    digest: str,
    member_id: int,
) -> Accepted:
    """Ask the node of ``source`` (a home claim of the document's owner) again for a
    document for ``member_id``, whom this node serves, and keep it as a delivery: the
    same checks, sealed under this node's key (a node restored from an old backup)."""
    request = identity.fetch_request(digest, member_id)
    envelope = transport.fetch(source.url, source.certificate, request)
    return receiver.accept(envelope, source.certificate)
