"""Members' transactions sent to any node reach the minter.

A node that is not minting admits a member's signed transaction as a single node does
(signature, membership, nonce: ``EmbeddedNode.submit``) and keeps it in its queue, which
it never builds from while another node mints. The forwarder sends the raw transaction
on to the current minter, whose URL is the value of the election key, with the JSON-RPC
method ``scf_forwardTransactions``. The request is signed with the forwarding node's key
and the minter takes it only from a node the NodeRegistry allows (``ForwardedCheck``):
members' transactions carry their own signatures, so what this guards is the minter's
queue against strangers.

Re-sending is the queue's: a transaction leaves the queue of the node it was sent to (its
*own* node) only when the node imports the block that holds it. While any remain, the
forwarder sends them all again every ``RESEND_SECONDS`` and at once after a change of
minter; the minter takes a transaction it already holds as the same one (its hash), and
refuses one already in a block (its nonce), so a re-send never applies anything twice. A
node that wins the election mints what its own queue holds.

**Dropped means never mined.** The API reports a transaction dropped (the receipt waiter,
``TransactionDropped``, ``409 transaction_dropped``) only once no node holds it any more,
so no later block can hold it: the member may then send the operation again, and the new
transaction cannot apply beside the old (the API sends a transaction to its own node
only; a client that sends one signed transaction to two nodes has two own nodes). Three
rules make "no node holds it" true at the moment the own node lets go:

- A node forwards only what was sent to it (``EmbeddedNode.queued_transactions``), never
  what it took from another node's forward.
- Only the minter takes a forward, in its term (``ForwardedCheck``: a node that does not
  mint answers ``NOT_MINTING``, which is not final, and the forwarder sends again after
  ``RETRY_SOON_SECONDS``, since a newly elected node mints once it has caught up; a
  forward checked in a term that has ended since is refused as not final too). A new
  minter has imported every block of the log before it mints, and nobody else appends
  while its lease holds, so its head is the log's and what it does not hold, queued or
  mined, is held by no minter.
- What a minter took from a forward is held for that term only
  (``EmbeddedNode.forget_forwarded``): when the term ends, and again before its next
  one begins, once any block of the old term is done (refused: the node holds no
  leadership then), it lets them go without a rejection. The own node still holds them
  and sends them to whichever node mints next. Without this, a minter that took T and lost
  the election before minting it kept T in its queue; when the next minter refused T for
  good, T's own node dropped it and the member was told so, and the old minter, winning
  the election again before its own forward round sent T on, mined it.

A refusal for good ends the re-sending: the minter says what each refusal rests on
(``chain.embedded.rules.Standing``) and the head it judged at. A transaction invalid in
itself (by the minter's rules: its gas cap may be below the own node's), or one the state
refuses at a head at least as new as the forwarder's, leaves the own node's queue with the
minter's reason (with its sender's later transactions, which would follow a gap): no node
holds it any more, whatever a later head might allow. A refusal of its nonce is settled
by the blocks the forwarder imports (``EmbeddedNode`` drops a transaction whose nonce a
block gave to another); the minter's unreachability, a change of minter, a node that does
not mint or a minter that has halted only delay it. A transaction the minter holds
already (queued, or in a block) is answered as taken before any check.

A forward from a node the allow-list does not hold (a stranger, or a validator the
committee removed) is refused whole. The minter adds the head it judged at and which of
the forward's transactions it holds already (``held_if_refused_for_good``): a removed
node keeps those, which will be mined, and drops the others with the minter's reason,
since nothing it forwards can reach a block any more; its own ``SubmitGate`` refuses new
transactions from the block that removed it (``nodes.consortium.submit_gate``). The API's
transaction manager keeps its idempotency keys and raw transactions as on a single node
(it talks to its own node only).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from eth.abc import BlockHeaderAPI
from eth_utils.crypto import keccak

from chain.consortium.allow_list import AllowList
from chain.consortium.election import Election, Leader
from chain.consortium.seal import NodeKey, node_id, recover_public_key
from chain.embedded.node import EmbeddedNode, TransactionRejected
from chain.embedded.rpc import (
    INVALID_PARAMS,
    NODE_CANNOT_SUBMIT,
    RpcError,
    RpcHandler,
    data,
    parse_data,
)
from chain.embedded.rules import Standing

log = logging.getLogger(__name__)

FORWARD_METHOD = "scf_forwardTransactions"
RESEND_SECONDS = 1.0
RETRY_SOON_SECONDS = 0.2  # after the elected node answered that it does not mint yet
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

    def __init__(
        self,
        node: EmbeddedNode,
        allow_list: AllowList,
        chain_id: int,
        minting: Callable[[], bool],
    ) -> None:
        self.node = node
        self.allow_list = allow_list
        self.chain_id = chain_id
        self.minting = minting

    def take(self, raws_hex: Any, timestamp: Any, public_hex: Any, signature_hex: Any) -> list[Any]:
        """Admit each forwarded transaction; per transaction its hash or the refusal."""
        if not isinstance(raws_hex, list) or len(raws_hex) > MAX_BATCH:
            raise RpcError(INVALID_PARAMS, f"a list of at most {MAX_BATCH} raw transactions")
        if not isinstance(timestamp, int) or abs(time.time() - timestamp) > MAX_AGE_SECONDS:
            raise RpcError(UNAUTHORIZED, "the forward's timestamp is missing or too far off")
        raws = [parse_data(raw) for raw in raws_hex]
        public_key = parse_data(public_hex)
        digest = forward_digest(self.chain_id, timestamp, raws)
        if recover_public_key(parse_data(signature_hex), digest) != public_key:
            raise RpcError(UNAUTHORIZED, "the forward's signature is not the node key's")
        # The term first, then whether this node mints: a forward is taken in one term.
        term = self.node.forward_term
        minting = self.minting()
        head = self.node.head
        sender = node_id(public_key)
        if not self.allow_list.allows(self.node.reader, sender, head):
            raise self._not_allowed(sender, head, raws, minting)
        answers: list[Any] = []
        for raw in raws:
            tx_hash = bytes(keccak(raw))
            # in a block already, or queued here (before any check of its sender, whose
            # standing may have changed since it was taken): taken, once
            if self._holds(tx_hash):
                answers.append(data(tx_hash))
                continue
            if not minting:  # only the minter's refusal, at the log's head, can be final
                answers.append(_refusal(NOT_MINTING, Standing.NODE, head))
                continue
            dropped = self.node.rejection_of(tx_hash)
            if dropped is not None:  # this node built a block without it: said once, for good
                refusal = _refusal(f"dropped from its block: {dropped}", Standing.INVALID, head)
                answers.append(refusal)
                continue
            try:
                answers.append(data(self.node.submit(raw, forwarded_in=term)))
            except TransactionRejected as exc:
                answers.append(_refusal(str(exc), exc.standing, self.node.head))
        return answers

    def _holds(self, tx_hash: bytes) -> bool:
        """Queued here (or in a block being built), or in a published block: in that
        order, since a block published between the two looks leaves the queue first."""
        return self.node.is_queued(tx_hash) or self.node.locate(tx_hash) is not None

    def _not_allowed(
        self, sender: bytes, head: BlockHeaderAPI, raws: list[bytes], minting: bool
    ) -> RpcError:
        """The refusal of a forward from a node the allow-list does not hold at ``head``.
        The minter says which of its transactions it holds already (those will be mined):
        a node the committee removed drops the others for good, since nothing it forwards
        can reach a block any more (``held_if_refused_for_good``). A node that does not
        mint knows nothing for certain of the minter's queue: it says nothing more."""
        number = int(head.block_number)
        message = (
            f"the forwarding node 0x{sender.hex()} is not on the allow-list at block "
            f"{number}: the minter takes no transaction from it; send the write through a "
            "validator's node"
        )
        if not minting:
            return RpcError(UNAUTHORIZED, message)
        held = [data(keccak(raw)) for raw in raws if self._holds(bytes(keccak(raw)))]
        return RpcError(UNAUTHORIZED, message, {"head": number, "held": held})


NOT_MINTING = "this node does not mint now: send the transaction to the current minter"


def _refusal(message: str, standing: Standing, head: BlockHeaderAPI) -> dict[str, Any]:
    """A forwarded transaction the minter did not take: why, what the refusal rests on,
    and the head it was judged at (a refusal on state counts once the forwarder's own
    head is no newer)."""
    return {"error": message, "standing": standing.value, "head": int(head.block_number)}


def is_final(answer: dict[str, Any], sent_at_head: int) -> bool:
    """Whether the minter's refusal of a forwarded transaction is for good: the
    transaction is invalid in itself, or the state refuses it at a head at least as new as
    the one the forwarding node admitted it at. A refusal on its nonce (the minter's head
    may be behind, or hold the nonce in a block this node has yet to import: the import
    settles it) or by a node that takes nothing (halted) is not; nor is an answer without
    a standing (a minter of an older version)."""
    standing = answer.get("standing")
    if standing == Standing.INVALID.value:
        return True
    head = answer.get("head")
    return standing == Standing.STATE.value and isinstance(head, int) and head >= sent_at_head


def held_if_refused_for_good(error: Any, sent_at_head: int) -> set[str] | None:
    """When the minter refused a whole forward because the forwarding node is not on the
    allow-list, at a head at least as new as the one the forward was sent at, and said
    which of its transactions it holds: those (hex hashes). The others can reach no block
    through this node, and no other node holds them: they are refused for good. None for
    any other refusal (a bad signature or timestamp, a node that does not mint, a minter
    behind the forwarder), which changes nothing."""
    if not isinstance(error, dict) or error.get("code") != UNAUTHORIZED:
        return None
    detail = error.get("data")
    if not isinstance(detail, dict):
        return None
    head, held = detail.get("head"), detail.get("held")
    if not isinstance(head, int) or head < sent_at_head or not isinstance(held, list):
        return None
    return {str(tx_hash) for tx_hash in held}


# Development methods that would change one node's chain or clock outside the log.
OUTSIDE_THE_LOG = frozenset({"evm_snapshot", "evm_revert", "evm_increaseTime"})
METHOD_NOT_SUPPORTED = -32004  # EIP-1474


class ConsortiumRpc:
    """The node's JSON-RPC with the consortium's methods: takes forwards, tells the
    forwarder of each transaction sent here, and says this node's part in the cluster.

    A node that may not submit (a learner, a node not on the allow-list yet: ``refusal``
    says why, ``nodes.consortium.submit_gate``) refuses ``eth_sendRawTransaction`` at
    once with ``NODE_CANNOT_SUBMIT``: nothing is queued, nothing forwarded.

    In development mode (``--dev``) a single node's time travel would change this node's
    chain outside the log: ``evm_snapshot``, ``evm_revert`` and ``evm_increaseTime`` are
    refused. ``evm_mine [timestamp]`` is answered by the minter only, whose block goes
    through the log like any other: that is how block time moves on a consortium (every
    node's clock goes on from an imported block's time)."""

    def __init__(
        self,
        handler: RpcHandler,
        check: ForwardedCheck,
        submitted: Callable[[bytes], None],
        status: Callable[[str], dict[str, Any]],
        minting: Callable[[], bool],
        refusal: Callable[[], str | None],
    ) -> None:
        self.handler = handler
        self.check = check
        self.submitted = submitted
        self.status = status
        self.minting = minting
        self.refusal = refusal

    def handle(self, method: str, params: list[Any] | None) -> Any:
        if self.handler.dev and method.startswith("evm_"):
            self._check_development(method)
        if method == FORWARD_METHOD:
            try:
                return self.check.take(*(params or []))
            except TypeError as exc:
                raise RpcError(INVALID_PARAMS, f"invalid parameters for {method}: {exc}") from None
        if method == "scf_consortium":
            detail = params[0] if params else "full"
            return self.status("brief" if detail == "brief" else "full")
        if method == "eth_sendRawTransaction":
            refused = self.refusal()
            if refused is not None:
                raise RpcError(NODE_CANNOT_SUBMIT, refused)
        answer = self.handler.handle(method, params)
        if method == "eth_sendRawTransaction" and params:
            self.submitted(parse_data(params[0]))
        return answer

    def _check_development(self, method: str) -> None:
        if method in OUTSIDE_THE_LOG:
            raise RpcError(
                METHOD_NOT_SUPPORTED,
                f"{method} is not available on a consortium node: it would change this "
                "node's chain or clock outside the consortium's log; move block time with "
                "evm_mine and a timestamp on the minter",
            )
        if method == "evm_mine" and not self.minting():
            raise RpcError(
                METHOD_NOT_SUPPORTED,
                "evm_mine is answered by the minter only (its block goes through the "
                "consortium's log); this node does not mint: send it to the minter "
                "(scf-node status names it)",
            )


@dataclass
class _SendState:
    resend_at: float  # when everything still queued is sent again (monotonic)
    leader: Leader | None  # the minter the last round sent to


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
        self.failures = 0  # forwards that reached no minter (sent again, as all others)
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
        """Keep ``leader`` current for as long as the node runs: a watch that ended on an
        error etcd gave (beyond the unavailability the observer rides out itself) is
        started again, or this node would forward to a minter long gone."""
        while not self._stop.is_set():
            try:
                for leader in self.observer.observe(idle_timeout=5.0):
                    if self._stop.is_set():
                        return
                    if leader is not None:
                        log.info("the minter is %s", leader.value)
                    self._leader = leader
                    self._wake.set()  # a new minter: send it everything still queued here
            except Exception as exc:  # whatever ended the watch, it must not end watching
                if self._stop.is_set():
                    return  # the node is stopping: its etcd client has closed
                log.warning("watching the minter election: %s; watching again", exc)
                self._stop.wait(RESEND_SECONDS)

    def _send(self) -> None:
        """Forward until the node stops; whatever goes wrong in one round is logged and the
        next round goes on (a sender that died would leave every transaction queued here)."""
        state = _SendState(time.monotonic() + RESEND_SECONDS, None)
        while not self._stop.is_set():
            self._wake.wait(min(RESEND_SECONDS, max(0.0, state.resend_at - time.monotonic())))
            self._wake.clear()
            try:
                self._send_round(state)
            except Exception:
                log.exception("forwarding to the minter failed; trying again")

    def _send_round(self, state: _SendState) -> None:
        leader = self._leader
        with self._lock:
            fresh, self._fresh = self._fresh, []
        if leader is None or self.minting() or leader.value == self.observer.value:
            # nothing to send: look again in a round's time, or at once when woken (a new
            # minter, a fresh transaction); a deadline left behind would spin this loop
            state.resend_at = time.monotonic() + RESEND_SECONDS
            return
        if leader != state.leader or time.monotonic() >= state.resend_at:
            fresh = self.node.queued_transactions()  # everything not yet in a block
            state.resend_at = time.monotonic() + RESEND_SECONDS
        state.leader = leader
        not_minting = False
        for start in range(0, len(fresh), MAX_BATCH):
            not_minting |= self._post(leader.value, fresh[start : start + MAX_BATCH])
        if not_minting:  # a new minter catching up with the log: it mints in a moment
            state.resend_at = min(state.resend_at, time.monotonic() + RETRY_SOON_SECONDS)

    def _post(self, url: str, raws: list[bytes]) -> bool:
        """Send ``raws`` to the minter at ``url``; drop from this node's queue those it
        refuses for good (their waiters learn why); the others stay to be sent again.
        True when the node there does not mint (yet): send again soon."""
        sent_at_head = int(self.node.head.block_number)
        params = sign_forward(self.key, self.chain_id, raws)
        body = {"jsonrpc": "2.0", "id": 1, "method": FORWARD_METHOD, "params": params}
        try:
            answer = self._http.post(url, content=json.dumps(body)).json()
        except (httpx.HTTPError, ValueError) as exc:
            self.failures += 1
            log.warning("forwarding %d transactions to %s: %s", len(raws), url, exc)
            return False
        if not isinstance(answer, dict) or "error" in answer:
            shown = answer.get("error") if isinstance(answer, dict) else answer
            held = held_if_refused_for_good(shown, sent_at_head)
            if held is None:
                log.warning("the minter at %s refused a forward: %s", url, shown)
                return False
            assert isinstance(shown, dict)
            reason = f"the minter refused it: {shown.get('message')}"
            for raw in raws:
                tx_hash = bytes(keccak(raw))
                if data(tx_hash) not in held and self.node.drop_refused(tx_hash, reason):
                    log.warning("transaction 0x%s: %s; not sent again", tx_hash.hex(), reason)
            return False
        results = answer.get("result")
        if not isinstance(results, list) or len(results) != len(raws):
            log.warning("the minter at %s answered a forward with %r", url, results)
            return False
        pending: list[str] = []
        for raw, result in zip(raws, results, strict=True):
            if not isinstance(result, dict):
                continue  # taken: it leaves the queue when its block is imported
            reason = f"the minter refused it: {result.get('error')}"
            if is_final(result, sent_at_head):
                tx_hash = bytes(keccak(raw))
                if self.node.drop_refused(tx_hash, reason):
                    log.warning("transaction 0x%s: %s; not sent again", tx_hash.hex(), reason)
            else:
                pending.append(str(result.get("error")))
        if pending:
            log.info("the minter did not take %d forwarded yet: %s", len(pending), pending[:3])
        return NOT_MINTING in pending
