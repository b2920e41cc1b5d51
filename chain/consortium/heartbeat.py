"""Each running node's heartbeat in etcd: who it is, its role and its head, under a lease.

Every institution can read etcd, none can read another's JSON-RPC (each is guarded by its
own token), so the cluster's state is published where all of them take part. A node
writes one small record, ``ChainKeys.heartbeat(node id)``, attached to a lease of its
own that it keeps alive; when the node dies the lease runs out and etcd deletes the
record, and a node that stops revokes it at once. Absent means gone.

The record is JSON, signed with the node key over keccak256 of its canonical form (sorted
keys, no spaces, without ``signature``), so no other institution can speak for a node:
``{"version", "node_id", "rpc_url", "role", "head", "hash", "halted", "updated",
"signature"}``.

etcd's log is the one every block goes through: a node writes only when its role, head
or halted reason changed, and at most once per ``interval``; in between only the lease is
renewed (a lease renewal is answered by etcd's leader without a Raft entry).

Reading is bounded: at most ``MAX_RECORDS`` keys per read and ``MAX_RECORD_BYTES`` per
record; a record that is malformed, oversized, unsigned or signed by another node than
its key names is refused (and counted), never trusted or fatal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak

from chain.consortium.etcd import EtcdClient, EtcdError, EtcdLeaseNotFound, KeyValue
from chain.consortium.keys import ChainKeys
from chain.consortium.seal import SEAL_BYTES, NodeKey, node_id, recover_public_key

if TYPE_CHECKING:
    from chain.consortium.replica import ConsortiumReplica

log = logging.getLogger(__name__)

VERSION = 1
DEFAULT_TTL = 10  # seconds a dead node's record outlives it
DEFAULT_INTERVAL = 1.0  # seconds: at most one write per interval, and only on a change
MAX_RECORD_BYTES = 4096
MAX_RECORDS = 256  # nodes read at once; a consortium has a handful
MAX_TEXT = 1024  # an URL, a halted reason
ROLES = frozenset({"minter", "verifier", "learner", "halted"})  # ``replica.Role``'s values


class BadHeartbeat(ValueError):
    """A record under the heartbeat prefix that is not a node's signed heartbeat."""


@dataclass(frozen=True)
class NodeState:
    """What a node publishes of itself."""

    role: str
    head: int
    hash: bytes
    halted: str | None = None


def state_of(replica: ConsortiumReplica) -> NodeState:
    """A running replica's state, as its heartbeat publishes it."""
    head = replica.node.head
    return NodeState(replica.role.value, int(head.block_number), bytes(head.hash), replica.halted)


@dataclass(frozen=True)
class Heartbeat:
    node_id: bytes
    rpc_url: str
    state: NodeState
    updated: str  # UTC, ISO 8601, as the node's clock said when it wrote

    def as_json(self) -> dict[str, Any]:
        return {
            "node_id": "0x" + self.node_id.hex(),
            "rpc_url": self.rpc_url,
            "role": self.state.role,
            "head": self.state.head,
            "hash": "0x" + self.state.hash.hex(),
            "halted": self.state.halted,
            "updated": self.updated,
        }


# ---- the record -------------------------------------------------------------------------


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def encode(key: NodeKey, rpc_url: str, state: NodeState, updated: str) -> bytes:
    body: dict[str, Any] = {
        "version": VERSION,
        "node_id": "0x" + node_id(key.public_key).hex(),
        "rpc_url": rpc_url[:MAX_TEXT],
        "role": state.role,
        "head": state.head,
        "hash": "0x" + state.hash.hex(),
        "halted": None if state.halted is None else state.halted[:MAX_TEXT],
        "updated": updated,
    }
    body["signature"] = "0x" + key.seal(bytes(keccak(_canonical(body)))).hex()
    return _canonical(body)


def decode(keys: ChainKeys, kv: KeyValue) -> Heartbeat:
    """The heartbeat in ``kv``, checked; ``BadHeartbeat`` says what is wrong with it."""
    if len(kv.value) > MAX_RECORD_BYTES:
        raise BadHeartbeat(f"{len(kv.value)} bytes, over {MAX_RECORD_BYTES}")
    try:
        body = json.loads(kv.value)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise BadHeartbeat("not JSON") from None
    if not isinstance(body, dict):
        raise BadHeartbeat("not a JSON object")
    if body.get("version") != VERSION:
        raise BadHeartbeat(f"version {str(body.get('version'))[:20]!r}, not {VERSION}")
    named = _hex(body, "node_id", 32)
    if keys.heartbeat(named) != kv.key:
        raise BadHeartbeat("its node id is not the one its key names")
    signature = _hex(body, "signature", SEAL_BYTES)
    del body["signature"]  # what was signed
    signer = recover_public_key(signature, bytes(keccak(_canonical(body))))
    if signer is None:
        raise BadHeartbeat("its signature recovers no key")
    if node_id(signer) != named:
        raise BadHeartbeat("not signed by the node it names")
    role, head = body.get("role"), body.get("head")
    if role not in ROLES:
        raise BadHeartbeat(f"unknown role {str(role)[:20]!r}")
    if not isinstance(head, int) or isinstance(head, bool) or not 0 <= head < 2**63:
        raise BadHeartbeat("its head is not a block height")
    halted = body.get("halted")
    if halted is not None and not isinstance(halted, str):
        raise BadHeartbeat("its halted reason is not text")
    state = NodeState(role, head, _hex(body, "hash", 32), halted)
    return Heartbeat(named, _text(body, "rpc_url"), state, _text(body, "updated"))


def _hex(body: dict[str, Any], name: str, size: int) -> bytes:
    value = body.get(name)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 2 + 2 * size:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(value[2:])
    raise BadHeartbeat(f"its {name} is not {size} bytes of 0x-hex")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise BadHeartbeat(f"its {name} is not text of at most {MAX_TEXT} characters")
    return value


# ---- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeats:
    """The live nodes' records, and what was refused under the prefix (key: why)."""

    records: dict[bytes, Heartbeat] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "records": [record.as_json() for record in self.records.values()],
            "refused": self.refused,
        }


def read(client: EtcdClient, keys: ChainKeys, limit: int = MAX_RECORDS) -> Heartbeats:
    """Every heartbeat under the chain's prefix, at most ``limit`` keys; the member's own
    view (serializable), which a member cut off from the majority still gives."""
    answer = client.range(keys.heartbeats, keys.heartbeats_end, limit=limit, serializable=True)
    found = Heartbeats()
    for kv in answer.kvs:
        try:
            record = decode(keys, kv)
        except BadHeartbeat as exc:
            shown = kv.key[len(keys.heartbeats) :][:80].decode(errors="replace")
            found.refused.append(f"{shown}: {exc}")
            continue
        found.records[record.node_id] = record
    if answer.more:
        found.refused.append(f"more than {limit} records: the rest not read")
    return found


# ---- publishing -------------------------------------------------------------------------


class HeartbeatPublisher:
    """Keeps this node's heartbeat in etcd while it runs (``start``/``stop``); ``tick`` is
    one step of its thread, callable directly with a clock of the caller's."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ChainKeys,
        key: NodeKey,
        rpc_url: str,
        state: Callable[[], NodeState],
        *,
        ttl: int = DEFAULT_TTL,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.keys = keys
        self.key = key
        self.rpc_url = rpc_url
        self.state = state
        self.ttl = ttl
        self.interval = interval
        self.clock = clock
        self.lease = 0
        self._published: NodeState | None = None
        self._written_at: float | None = None
        self._renewed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._complained = False

    @property
    def record_key(self) -> bytes:
        return self.keys.heartbeat(node_id(self.key.public_key))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="consortium-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop, and revoke the lease: the record goes at once (else after the TTL)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        lease, self.lease = self.lease, 0
        if lease:
            with contextlib.suppress(EtcdError):
                self.client.revoke_lease(lease)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self._complained = False
            except EtcdError as exc:  # etcd away: the record expires, the next tick rewrites
                if not self._complained:
                    log.warning("publishing this node's heartbeat: %s", exc.message)
                    self._complained = True
            except Exception:  # reading the node's state: try again next tick
                log.exception("could not publish this node's heartbeat")
            self._stop.wait(self.interval)

    def tick(self) -> bool:
        """Renew the lease when a third of its TTL passed; write the record when the state
        changed and ``interval`` passed since the last write. True when it wrote."""
        now = self.clock()
        if self.lease and now - self._renewed_at >= self.ttl / 3:
            try:
                self.client.keep_alive(self.lease)
                self._renewed_at = now
            except EtcdLeaseNotFound:  # it ran out (etcd was away): a new lease, rewritten
                self.lease, self._published = 0, None
        state = self.state()
        if state == self._published:
            return False
        if self._written_at is not None and now - self._written_at < self.interval:
            return False
        if not self.lease:
            self.lease = self.client.grant_lease(self.ttl)
            self._renewed_at = now
        updated = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        value = encode(self.key, self.rpc_url, state, updated)
        try:
            self.client.put(self.record_key, value, lease=self.lease)
        except EtcdLeaseNotFound:  # expired since its last renewal: granted anew next tick
            self.lease = 0
            return False
        self._published, self._written_at = state, now
        return True
