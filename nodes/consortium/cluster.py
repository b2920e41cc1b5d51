"""The cluster as ``scf-node status`` and ``scf-node node list`` show it.

This node answers for itself (``scf_consortium``: role, minter, log head, etcd health).
Every other node is seen through etcd, where each running node keeps a heartbeat (its
role and head, signed, under a lease: ``chain.consortium.heartbeat``): another
institution's JSON-RPC is guarded by that institution's token, etcd is where all of them
take part. A node's lag is the log's head minus its head. An allowed node without a live
heartbeat is ``gone`` (stopped, or dead for longer than the heartbeat's lease);
``unknown`` when etcd could not be read. ``nodes`` are the allow-list's; live nodes off
it (a learner, a removed node still running) are ``other_nodes``.

A running node reads the heartbeats itself, with its etcd client. A stopped home reads
etcd directly: its endpoints are in ``node.json``; over https it needs the node's
certificate key, decrypted with ``SCF_PASSPHRASE`` (a development home: the development
passphrase). status never prompts for it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nodes.connect import Connection
    from nodes.home import NodeHome

ETCD_TIMEOUT = 2.0  # seconds for each read of a stopped home's etcd
ETCD_MAX_BYTES = 1024 * 1024  # what a stopped home reads of etcd at most


def cluster(
    own: dict[str, Any], nodes: list[dict[str, Any]], heartbeats: dict[str, Any]
) -> dict[str, Any]:
    """``own``: this node's full ``scf_consortium`` (``{"role": "stopped"}`` when it is
    not running); ``nodes``: the NodeRegistry's; ``heartbeats``: the live nodes' records
    (``{"records", "refused", "error"}``)."""
    log_head = own.get("log_head")
    records = {str(r["node_id"]).lower(): r for r in heartbeats.get("records", [])}
    unread = heartbeats.get("error") is not None
    shown, others = [], []
    listed = set()
    for node in nodes:
        node_key = str(node["id"]).lower()
        listed.add(node_key)
        record = records.get(node_key)
        if node_key == str(own.get("node_id", "")).lower():
            record = {**(record or {}), **{k: own.get(k) for k in ("role", "head", "halted")}}
        entry = _entry(node["id"], node["endpoint"], node["allowed"], record, unread, log_head)
        if node["allowed"]:
            shown.append(entry)
        elif record is not None:  # removed from the allow-list, still running
            others.append(entry)
    for node_key, record in records.items():  # running, never on the allow-list: a learner
        if node_key not in listed:
            others.append(
                _entry(record["node_id"], record["rpc_url"], False, record, unread, log_head)
            )
    return {
        "role": own.get("role"),
        "halted": own.get("halted"),
        "minter": own.get("minter"),
        "log_head": log_head,
        "etcd": own.get("etcd", []),
        "nodes": shown,  # the allow-list's
        "other_nodes": others,  # live, not on the allow-list (learners, removed nodes)
        "heartbeats_error": heartbeats.get("error"),
        "refused_heartbeats": heartbeats.get("refused", []),
    }


def _entry(
    node_id: str,
    endpoint: str,
    allowed: bool,
    record: dict[str, Any] | None,
    unread: bool,
    log_head: Any,
) -> dict[str, Any]:
    state = "live" if record is not None else ("unknown" if unread else "gone")
    found = record or {}
    head = found.get("head")
    lag = None
    if log_head is not None and head is not None:
        lag = max(0, int(log_head) - int(head))
    return {
        "id": node_id,
        "endpoint": endpoint,
        "allowed": allowed,
        "state": state,
        "reachable": state == "live",  # before heartbeats: answered on its JSON-RPC
        "role": found.get("role"),
        "head": head,
        "hash": found.get("hash"),
        "halted": found.get("halted"),
        "rpc_url": found.get("rpc_url"),
        "updated": found.get("updated"),
        "lag": lag,
    }


def view(connection: Connection, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The cluster seen from a home: through its running node, or (stopped) from etcd."""
    own: dict[str, Any] = {"role": "stopped"}
    if connection.node_running:
        from web3.types import RPCEndpoint

        try:
            answer = connection.ledger.w3.provider.make_request(  # type: ignore[attr-defined]
                RPCEndpoint("scf_consortium"), ["full"]
            )
        except Exception:  # the node is restarting its ledger: show what etcd holds anyway
            answer = {}
        if isinstance(answer.get("result"), dict):
            own = answer["result"]
    heartbeats = own.get("heartbeats")
    if not isinstance(heartbeats, dict):
        heartbeats, own["log_head"] = read_etcd(connection.home)
    return cluster(own, nodes, heartbeats)


def read_etcd(home: NodeHome) -> tuple[dict[str, Any], int | None]:
    """The heartbeats and the log's head, read from etcd by the home itself (bounded in
    time and size); an ``error`` in place of the records when it cannot."""
    from chain.consortium import heartbeat
    from chain.consortium.block_log import BlockLog
    from chain.consortium.etcd import EtcdClient
    from chain.consortium.keys import ChainKeys
    from chain.errors import ScfError
    from nodes.consortium.descriptor import descriptor_of, settings_of, uses_tls
    from nodes.consortium.stack import etcd_tls
    from nodes.home import DEV_PASSPHRASE

    settings = settings_of(home)
    assert settings is not None, "not a consortium home"
    passphrase = os.environ.get("SCF_PASSPHRASE") or (DEV_PASSPHRASE if home.is_dev() else "")
    if (settings.etcd_tls or uses_tls(settings.etcd)) and not passphrase:
        return _unread(
            "etcd is reached over TLS with this node's certificate: set SCF_PASSPHRASE to "
            "read it when the node is not running"
        ), None
    try:
        keys = ChainKeys(descriptor_of(home).chain_id)
        tls = etcd_tls(home, settings, passphrase)
        with EtcdClient(
            settings.etcd, tls=tls, timeout=ETCD_TIMEOUT, max_response_bytes=ETCD_MAX_BYTES
        ) as client:
            found = heartbeat.read(client, keys)
            log_head = BlockLog(client, keys).head()
    except ScfError as exc:
        return _unread(exc.message), None
    except (OSError, ValueError) as exc:  # the certificate's key, or a refused TLS handshake
        return _unread(f"cannot reach etcd: {exc}"), None
    return {**found.as_json(), "error": None}, None if log_head is None else log_head.height


def _unread(reason: str) -> dict[str, Any]:
    return {"records": [], "refused": [], "error": reason}
