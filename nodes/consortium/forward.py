"""Members' transactions sent to any node reach the minter.

A node that is not minting admits a member's signed transaction as a single node does
(signature, membership, nonce: ``EmbeddedNode.submit``) and keeps it in its queue, which
it never builds from while another node mints. The forwarder sends the raw transaction
on to the current minter, whose URL is the value of the election key, with the JSON-RPC
method ``scf_forwardTransactions``. The request is signed with the forwarding node's key
and the minter takes it only from a node the NodeRegistry allows (``ForwardedCheck``):
members' transactions carry their own signatures, so what this guards is the minter's
queue against strangers.

Re-sending is the queue's: a transaction leaves a node's queue only when the node imports
the block that holds it. While any remain, the forwarder sends them all again every
``RESEND_SECONDS`` and at once after a change of minter; the minter takes a transaction
it already holds as the same one (its hash), and refuses one already in a block (its
nonce), so a re-send never applies anything twice. A node that wins the election mints
what its own queue holds. The API's transaction manager keeps its idempotency keys and
raw transactions as on a single node (it talks to its own node only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from coincurve import PublicKey
from eth_utils.crypto import keccak

from chain.consortium.allow_list import AllowList
from chain.consortium.election import Election, Leader
from chain.consortium.seal import NodeKey, node_id
from chain.embedded.node import EmbeddedNode, TransactionRejected
from chain.embedded.rpc import INVALID_PARAMS, RpcError, RpcHandler, data, parse_data

log = logging.getLogger(__name__)

FORWARD_METHOD = "scf_forwardTransactions"
RESEND_SECONDS = 1.0
MAX_AGE_SECONDS = 60  # a signed forward older (or newer) than this is refused
FORWARD_TIMEOUT = 5.0
MAX_BATCH = 500
UNAUTHORIZED = -32001  # JSON-RPC server error range: the forwarder is not an allowed node


def forward_digest(chain_id: int, timestamp: int, raws: list[bytes]) -> bytes:
    """What a forwarding node signs: the chain, the time and every transaction's hash."""
    hashes = b"".join(keccak(raw) for raw in raws)
    return bytes(
        keccak(b"scf-forward" + chain_id.to_bytes(8, "big") + timestamp.to_bytes(8, "big") + hashes)
    )


def sign_forward(key: NodeKey, chain_id: int, raws: list[bytes]) -> list[Any]:
    """The params of ``scf_forwardTransactions``: raws, timestamp, public key, signature."""
    timestamp = int(time.time())
    signature = key.seal(forward_digest(chain_id, timestamp, raws))
    return [[data(raw) for raw in raws], timestamp, data(key.public_key), data(signature)]


class ForwardedCheck:
    """The minter's side: who sent a forward, and whether it may."""

    def __init__(self, node: EmbeddedNode, allow_list: AllowList, chain_id: int) -> None:
        self.node = node
        self.allow_list = allow_list
        self.chain_id = chain_id

    def take(self, raws_hex: Any, timestamp: Any, public_hex: Any, signature_hex: Any) -> list[Any]:
        """Admit each forwarded transaction; per transaction its hash or the refusal."""
        if not isinstance(raws_hex, list) or len(raws_hex) > MAX_BATCH:
            raise RpcError(INVALID_PARAMS, f"a list of at most {MAX_BATCH} raw transactions")
        if not isinstance(timestamp, int) or abs(time.time() - timestamp) > MAX_AGE_SECONDS:
            raise RpcError(UNAUTHORIZED, "the forward's timestamp is missing or too far off")
        raws = [parse_data(raw) for raw in raws_hex]
        public_key = parse_data(public_hex)
        digest = forward_digest(self.chain_id, timestamp, raws)
        try:
            recovered = PublicKey.from_signature_and_message(
                parse_data(signature_hex), digest, hasher=None
            ).format(compressed=False)[1:]
        except Exception:  # any malformed signature is refused the same way
            recovered = b""
        if recovered != public_key:
            raise RpcError(UNAUTHORIZED, "the forward's signature is not the node key's")
        head = self.node.head
        if not self.allow_list.allows(self.node.reader, node_id(public_key), head):
            raise RpcError(UNAUTHORIZED, "the forwarding node is not on the allow-list")
        answers: list[Any] = []
        for raw in raws:
            try:
                answers.append(data(self.node.submit(raw)))
            except TransactionRejected as exc:
                answers.append({"error": str(exc)})
        return answers


class ConsortiumRpc:
    """The node's JSON-RPC with the consortium's methods: takes forwards, tells the
    forwarder of each transaction sent here, and says this node's part in the cluster."""

    def __init__(
        self,
        handler: RpcHandler,
        check: ForwardedCheck,
        submitted: Callable[[bytes], None],
        status: Callable[[str], dict[str, Any]],
    ) -> None:
        self.handler = handler
        self.check = check
        self.submitted = submitted
        self.status = status

    def handle(self, method: str, params: list[Any] | None) -> Any:
        if method == FORWARD_METHOD:
            try:
                return self.check.take(*(params or []))
            except TypeError as exc:
                raise RpcError(INVALID_PARAMS, f"invalid parameters for {method}: {exc}") from None
        if method == "scf_consortium":
            detail = params[0] if params else "full"
            return self.status("brief" if detail == "brief" else "full")
        answer = self.handler.handle(method, params)
        if method == "eth_sendRawTransaction" and params:
            self.submitted(parse_data(params[0]))
        return answer


class Forwarder:
    """Sends what this node is sent, and does not mint, on to the minter."""

    def __init__(
        self,
        node: EmbeddedNode,
        observer: Election,
        key: NodeKey,
        chain_id: int,
        minting: Callable[[], bool],
    ) -> None:
        self.node = node
        self.observer = observer
        self.key = key
        self.chain_id = chain_id
        self.minting = minting
        self._leader: Leader | None = None
        self._fresh: list[bytes] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=FORWARD_TIMEOUT)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target, name in ((self._watch_minter, "watch-minter"), (self._send, "forward")):
            thread = threading.Thread(target=target, name=f"consortium-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._threads[-1].join(FORWARD_TIMEOUT + 1)  # the watcher is a daemon in a watch
        self._http.close()

    @property
    def leader(self) -> Leader | None:
        """The minter as last seen in the election (a watch keeps it current)."""
        return self._leader

    def submitted(self, raw: bytes) -> None:
        """A transaction this node admitted: forward it now unless this node mints."""
        if self.minting():
            return
        with self._lock:
            self._fresh.append(raw)
        self._wake.set()

    def _watch_minter(self) -> None:
        for leader in self.observer.observe(idle_timeout=5.0):
            if self._stop.is_set():
                return
            if leader is not None:
                log.info("the minter is %s", leader.value)
            self._leader = leader
            self._wake.set()  # a new minter: send it everything still queued here

    def _send(self) -> None:
        resend_at = time.monotonic() + RESEND_SECONDS
        leader_sent_to: Leader | None = None
        while not self._stop.is_set():
            self._wake.wait(RESEND_SECONDS)
            self._wake.clear()
            leader = self._leader
            with self._lock:
                fresh, self._fresh = self._fresh, []
            if leader is None or self.minting() or leader.value == self.observer.value:
                continue
            if leader != leader_sent_to or time.monotonic() >= resend_at:
                fresh = self.node.queued_transactions()  # everything not yet in a block
                resend_at = time.monotonic() + RESEND_SECONDS
            leader_sent_to = leader
            for start in range(0, len(fresh), MAX_BATCH):
                self._post(leader.value, fresh[start : start + MAX_BATCH])

    def _post(self, url: str, raws: list[bytes]) -> None:
        params = sign_forward(self.key, self.chain_id, raws)
        body = {"jsonrpc": "2.0", "id": 1, "method": FORWARD_METHOD, "params": params}
        try:
            answer = self._http.post(url, content=json.dumps(body)).json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("forwarding %d transactions to %s: %s", len(raws), url, exc)
            return
        if "error" in answer:
            log.warning("the minter at %s refused a forward: %s", url, answer["error"])
            return
        with contextlib.suppress(TypeError):
            refused = [a["error"] for a in answer["result"] if isinstance(a, dict)]
            if refused:
                log.info("the minter did not take %d forwarded: %s", len(refused), refused[:3])
