"""Home claims on an external JSON-RPC network, where there is no etcd to publish them on.

On the etcd route every node reads the members' home claims from the consortium's etcd
(``document_exchange.EtcdHomeBoard``). A consortium on an external network (Besu,
GoQuorum; anvil in tests) has no shared key space besides the chain, and ADR 22 keeps
homes off the chain. So each node keeps the claims it publishes itself (``OwnClaims``)
and serves them at its document endpoint (``GET /peer/v1/homes/<member id>``), and a
reader asks every other node the NodeRegistry allows at the endpoint its entry names
(``scf-node node propose-add --endpoint``: on this route the node's document URL).
The board stays untrusted as on etcd: ``Homes`` keeps a claim only if one of the
member's accounts signed it and its node is allowed, so a peer that answers wrongly can
hide a home (the delivery waits), never forge one.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from api.services.document_exchange import HomeClaim

log = logging.getLogger(__name__)

HOMES_PATH = "/peer/v1/homes/"  # + member id
TIMEOUT = 10.0
MAX_ANSWER = 256 * 1024  # a member's claims from one node: a few hundred bytes each


class OwnClaims:
    """The claims this node published, kept in memory: the publisher signs them again
    after a restart (``HomePublisher`` publishes what the board lacks)."""

    def __init__(self) -> None:
        self._claims: dict[tuple[int, str], HomeClaim] = {}
        self._lock = threading.Lock()

    def publish(self, claim: HomeClaim) -> None:
        with self._lock:
            self._claims[(claim.member_id, claim.node_id.lower())] = claim

    def withdraw(self, member_id: int, node: bytes) -> None:
        with self._lock:
            self._claims.pop((member_id, "0x" + node.hex()), None)

    def claims(self, member_id: int) -> list[HomeClaim]:
        with self._lock:
            return [c for (m, _), c in self._claims.items() if m == member_id]


class PeerHomeBoard:
    """This node's own claims and those the other allowed nodes serve; ``peers`` gives
    their document URLs (from the NodeRegistry, read when asked)."""

    def __init__(
        self,
        own: OwnClaims,
        peers: Callable[[], list[str]],
        context: ssl.SSLContext,
    ) -> None:
        self._own = own
        self._peers = peers
        self._context = context

    def publish(self, claim: HomeClaim) -> None:
        self._own.publish(claim)

    def withdraw(self, member_id: int, node: bytes) -> None:
        self._own.withdraw(member_id, node)

    def claims(self, member_id: int) -> list[HomeClaim]:
        found = self._own.claims(member_id)
        for url in self._peers():
            try:
                found.extend(self._ask(url, member_id))
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # a node down or misconfigured hides its homes until it answers again
                log.warning("home claims of member %s from %s: %r", member_id, url, exc)
        return found

    def _ask(self, url: str, member_id: int) -> list[HomeClaim]:
        """The claims the node at ``url`` serves for ``member_id``, over TLS with this
        node's certificate, trusting only the consortium CA."""
        connection = endpoint_connection(url, self._context, TIMEOUT)
        try:
            connection.request("GET", f"{HOMES_PATH}{member_id}")
            response = connection.getresponse()
            body = response.read(MAX_ANSWER)
        finally:
            connection.close()
        if response.status != 200:
            raise ValueError(f"answered {response.status}")
        raw = json.loads(body)
        if not isinstance(raw, dict) or not isinstance(raw.get("claims"), list):
            raise ValueError("no list of claims")
        parsed = (HomeClaim.from_json(json.dumps(c).encode()) for c in raw["claims"])
        return [c for c in parsed if c is not None]


def claims_answer(own: OwnClaims, path: str) -> tuple[int, dict[str, Any]]:
    """The document endpoint's answer to ``GET /peer/v1/homes/<member id>``."""
    member = path.removeprefix(HOMES_PATH)
    if not member.isdigit():
        return 404, {"code": "not_found", "message": f"no route {path}"}
    return 200, {"claims": [json.loads(c.to_json()) for c in own.claims(int(member))]}


def endpoint_connection(
    url: str, context: ssl.SSLContext, timeout: float
) -> http.client.HTTPSConnection:
    """A connection (not yet open) to another node's document endpoint at ``url``, which
    must be an https URL with a host; TLS with ``context``."""
    target = urlsplit(url)
    if target.scheme != "https" or not target.hostname:
        raise ValueError(f"a document endpoint is an https URL, not {url!r}")
    return http.client.HTTPSConnection(
        target.hostname, target.port or 443, context=context, timeout=timeout
    )
