"""The consortium parts a ledger process runs beside its embedded node.

``ConsortiumStack.open`` connects to etcd and makes the finality hook (a validator's:
``EtcdFinality``; a learner has none) before the ledger opens, since the node is built
with it; ``attach`` then gives the opened node its replica (follow the log, stand for
minter) and its forwarder, and starts them, with the history peer endpoint (mutual TLS
with the consortium CA) when ``node.json`` asks for one, and publishes the node's
heartbeat in etcd (``chain.consortium.heartbeat``: role and head, for every institution's
``scf-node status``). ``close`` stops them in reverse.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import httpx

from chain.backends.embedded import EmbeddedLedger
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient, EtcdError, EtcdTls
from chain.consortium.heartbeat import HeartbeatPublisher, state_of
from chain.consortium.heartbeat import read as read_heartbeats
from chain.consortium.keys import ChainKeys
from chain.consortium.minter import EtcdFinality
from chain.consortium.peers import Peer, serve_history, serve_history_over_tls
from chain.consortium.replica import ConsortiumReplica
from chain.consortium.retention import DEFAULT_RETAIN_BLOCKS
from chain.consortium.seal import NodeKey, node_id
from chain.embedded.finality import Finality, FollowOnly
from chain.embedded.http import serve_in_background
from chain.embedded.node import EmbeddedNode
from chain.embedded.rpc import RpcHandler
from chain.errors import ConfigurationError
from nodes.consortium.descriptor import ConsortiumSettings, NetworkDescriptor
from nodes.consortium.forward import FORWARD_METHOD, ConsortiumRpc, ForwardedCheck, Forwarder
from nodes.consortium.submit_gate import SubmitGate
from nodes.home import NodeHome

log = logging.getLogger(__name__)

ETCD_HEALTH_TIMEOUT = 1.0


def node_key_of(home: NodeHome, passphrase: str) -> NodeKey:
    from eth_account import Account

    encrypted = Account.decrypt(home.node_keystore.read_text("utf-8"), passphrase)
    return NodeKey(bytes(encrypted))


def etcd_tls(home: NodeHome, settings: ConsortiumSettings, passphrase: str) -> EtcdTls | None:
    """Client TLS to etcd with the node certificate the consortium CA signed: for https
    endpoints (``etcd_tls`` in ``node.json``). Plain http beyond loopback is refused, as
    ``init`` and ``join`` refuse it (a hand-edited ``node.json``)."""
    from nodes.consortium.certificates import has_certificate, node_certificate_files
    from nodes.consortium.descriptor import parse_endpoints, uses_tls

    parse_endpoints(",".join(settings.etcd))
    if not (settings.etcd_tls or uses_tls(settings.etcd)):
        return None
    files = node_certificate_files(home)
    if not has_certificate(home):
        raise ConfigurationError(
            f"etcd over https needs this node's certificate from the consortium CA in "
            f"{files.directory} (scf-node node install-certificate)"
        )
    return EtcdTls(files.ca, files.certificate, files.key, passphrase)


@dataclass(frozen=True)
class PeerTls:
    """This node's mutual TLS with the other nodes: as a client asking for history, and
    as the server of its peer endpoint (``chain.consortium.tls``)."""

    client: ssl.SSLContext
    server: ssl.SSLContext


def peer_tls(home: NodeHome, passphrase: str) -> PeerTls | None:
    """From the node certificate the consortium CA signed; None before it is installed."""
    from chain.consortium.tls import peer_context
    from nodes.consortium.certificates import has_certificate, node_certificate_files

    if not has_certificate(home):
        return None
    files = node_certificate_files(home)
    return PeerTls(
        peer_context(files.ca, files.certificate, files.key, passphrase, server=False),
        peer_context(files.ca, files.certificate, files.key, passphrase, server=True),
    )


def listen_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"consortium.peer_listen is host:port, not {value!r}")
    return host.strip("[]"), int(port)


def registry_peers(
    ledger: EmbeddedLedger, registry: str, own_id: bytes, tls: ssl.SSLContext | None = None
) -> list[Peer]:
    """The JSON-RPC of every other node the NodeRegistry allows at the head: where blocks
    older than etcd's window come from (each checked against the log and re-executed).
    None before the registry is deployed: a node that new has the log's whole window."""
    from chain.contract import ContractHandle

    if not ledger.get_code(registry):
        return []
    handle = ContractHandle.at(ledger, "NodeRegistry", registry)
    peers = []
    for raw_id in handle.call("nodeIds"):
        found = handle.call_struct("getNode", raw_id)
        if found["allowed"] and bytes(raw_id) != own_id and found["endpoint"]:
            peers.append(Peer(str(found["endpoint"]), context=tls))
    return peers


@dataclass
class ConsortiumStack:
    home: NodeHome
    settings: ConsortiumSettings
    descriptor: NetworkDescriptor
    key: NodeKey
    client: EtcdClient
    block_log: BlockLog
    allow_list: AllowList
    finality: EtcdFinality | None
    tls: EtcdTls | None = None
    peers_tls: PeerTls | None = None
    replica: ConsortiumReplica | None = None
    forwarder: Forwarder | None = None
    advertised: str = ""
    heartbeat: HeartbeatPublisher | None = None
    _observer: Election | None = field(default=None, repr=False)
    _peer_server: ThreadingHTTPServer | None = field(default=None, repr=False)

    @classmethod
    def open(cls, home: NodeHome, passphrase: str) -> ConsortiumStack:
        from nodes.consortium.descriptor import descriptor_of, settings_of

        settings = settings_of(home)
        assert settings is not None, "not a consortium home"
        descriptor = descriptor_of(home)
        key = node_key_of(home, passphrase)
        tls = etcd_tls(home, settings, passphrase)
        client = EtcdClient(settings.etcd, tls=tls)
        block_log = BlockLog(client, ChainKeys(descriptor.chain_id))
        allow_list = AllowList(descriptor.registry, descriptor.bootstrap)
        finality = None if settings.learner else EtcdFinality(block_log, key, allow_list)
        peers_tls = peer_tls(home, passphrase)
        return cls(
            home, settings, descriptor, key, client, block_log, allow_list, finality, tls, peers_tls
        )

    @property
    def node_finality(self) -> Finality:
        """What the ledger's node is built with: a learner's never mints (with none it
        would build blocks of its own, as a single node does)."""
        return self.finality if self.finality is not None else FollowOnly()

    @property
    def node_id(self) -> bytes:
        return node_id(self.key.public_key)

    def attach(self, ledger: EmbeddedLedger, rpc_url: str) -> None:
        """Follow the log (and stand for minter) with ``ledger``'s node; forward what it is
        sent; catch up on blocks older than etcd's window from the NodeRegistry's nodes."""
        node = ledger.node
        keys = ChainKeys(self.descriptor.chain_id)
        self.advertised = self.settings.advertise_rpc_url or rpc_url
        client_tls = self.peers_tls.client if self.peers_tls is not None else None
        registry = self.descriptor.contracts["NodeRegistry"]
        peers = registry_peers(ledger, registry, self.node_id, client_tls)
        known = {peer.url for peer in peers} | {self.advertised}
        known |= {self.settings.advertise_peer_url} if self.settings.advertise_peer_url else set()
        peers += [
            Peer(url, context=client_tls) for url in self.descriptor.peers if url not in known
        ]
        self._serve_peers(node)
        election = None
        if self.finality is not None:
            election = Election(self.client, keys, self.advertised, ttl=self.settings.lease_ttl)
        self.replica = ConsortiumReplica(
            node,
            self.block_log,
            self.allow_list,
            finality=self.finality,
            election=election,
            peers=peers,
            retain=self.settings.retain_blocks or DEFAULT_RETAIN_BLOCKS,
        )
        self._observer = Election(self.client, keys, self.advertised)
        self.forwarder = Forwarder(
            node,
            self._observer,
            self.key,
            self.descriptor.chain_id,
            minting=self._minting,
        )
        replica = self.replica
        self.heartbeat = HeartbeatPublisher(
            self.client, keys, self.key, self.advertised, lambda: state_of(replica)
        )
        self.replica.start()
        self.forwarder.start()
        self.heartbeat.start()

    def _serve_peers(self, node: EmbeddedNode) -> None:
        """The history peer endpoint, if ``node.json`` asks for one: other institutions'
        nodes fetch blocks older than etcd's window there, over mutual TLS."""
        if self.settings.peer_listen is None:
            return
        if self.peers_tls is None:
            raise ConfigurationError(
                "consortium.peer_listen needs this node's certificate from the consortium CA "
                "(scf-node node install-certificate)"
            )
        host, port = listen_address(self.settings.peer_listen)
        self._peer_server = serve_history_over_tls(
            node, self.peers_tls.server, host, port, self.allow_list
        )
        serve_in_background(self._peer_server)
        log.info("history peer endpoint on %s (mutual TLS)", self.settings.peer_listen)

    open_methods = frozenset({FORWARD_METHOD})  # beyond loopback: signed, so no token

    def rpc(self, handler: RpcHandler) -> ConsortiumRpc:
        """The node's JSON-RPC with the consortium's methods (``forward``), serving its
        sealed blocks to peers catching up (``chain.consortium.peers``); a learner, or a
        node not on the allow-list at its head, refuses raw transactions (``SubmitGate``)."""
        serve_history(handler)
        check = ForwardedCheck(
            handler.node, self.allow_list, self.descriptor.chain_id, self._minting
        )
        gate = SubmitGate(
            handler.node, self.allow_list, self.node_id, learner=self.settings.learner
        )
        return ConsortiumRpc(
            handler, check, self._submitted, self.status, self._minting, gate.refusal
        )

    def _minting(self) -> bool:
        return self.finality is not None and self.finality.can_mint()

    def _submitted(self, raw: bytes) -> None:
        if self.forwarder is not None:
            self.forwarder.submitted(raw)

    def close_with(self, ledger: EmbeddedLedger) -> None:
        """Stop the node and the consortium parts: a minter seals its queue first, while
        it still holds the election; a follower stops following before its store closes.
        The heartbeat goes first: its lease revoked, the node shows as gone."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.forwarder is not None:
            self.forwarder.stop()
        if self._peer_server is not None:
            self._peer_server.shutdown()
            self._peer_server.server_close()
        minting = self.finality is not None and self.finality.can_mint()
        try:
            if minting:
                ledger.close()
            if self.replica is not None:
                self.replica.stop()
            if not minting:
                ledger.close()
        finally:
            self.client.close()

    # ---- status ------------------------------------------------------------------------
    def status(self, detail: str = "full") -> dict[str, Any]:
        """This node's part in the cluster, for ``scf_consortium``: ``brief`` (for
        /healthz and metrics: no etcd round trip) or ``full`` (``scf-node status``)."""
        assert self.replica is not None
        assert self.forwarder is not None
        node = self.replica.node
        leader = self.forwarder.leader
        shown: dict[str, Any] = {
            "role": self.replica.role.value,
            "halted": self.replica.halted,
            "learner": self.settings.learner,
            "node_id": "0x" + self.node_id.hex(),
            "rpc_url": self.advertised,
            "head": int(node.head.block_number),
            "minter": leader.value if leader else None,
        }
        if detail != "brief":
            shown["log_head"] = None
            shown["etcd"] = self.etcd_health()
            with contextlib.suppress(EtcdError):
                log_head = self.block_log.head()
                shown["log_head"] = log_head.height if log_head else None
            shown["heartbeats"] = self.heartbeats()
        return shown

    def heartbeats(self) -> dict[str, Any]:
        """Every live node's heartbeat in etcd, as ``scf-node status`` shows the cluster."""
        try:
            found = read_heartbeats(self.client, ChainKeys(self.descriptor.chain_id))
        except EtcdError as exc:
            return {"records": [], "refused": [], "error": exc.message}
        return {**found.as_json(), "error": None}

    def etcd_health(self) -> list[dict[str, Any]]:
        verify: Any = self.tls.context() if self.tls is not None else True
        health = []
        for endpoint in self.settings.etcd:
            try:
                answer = httpx.get(f"{endpoint}/health", timeout=ETCD_HEALTH_TIMEOUT, verify=verify)
                healthy = answer.status_code == 200 and answer.json().get("health") == "true"
            except (httpx.HTTPError, ValueError):
                healthy = False
            health.append({"endpoint": endpoint, "healthy": healthy})
        return health
