"""The cluster as ``scf-node status`` and ``scf-node node list`` show it.

This node answers for itself (``scf_consortium``: role, minter, log head, etcd health);
every node on the NodeRegistry is asked at the endpoint it was added with, briefly, for
its role and head, and its lag is the log's head minus its head. A node that does not
answer within ``PEER_TIMEOUT`` is shown as unreachable (stopped, or its JSON-RPC needs a
bearer token: beyond loopback, peers' status is the node's own operator's to see).
"""

from __future__ import annotations

from typing import Any

import httpx

PEER_TIMEOUT = 1.0


def rpc(url: str, method: str, params: list[Any], timeout: float = PEER_TIMEOUT) -> Any:
    """One JSON-RPC call; ``None`` when the node does not answer."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    try:
        answer = httpx.post(url, json=body, timeout=timeout).json()
    except (httpx.HTTPError, ValueError):
        return None
    return answer.get("result") if isinstance(answer, dict) else None


def peer_state(endpoint: str) -> dict[str, Any]:
    found = rpc(endpoint, "scf_consortium", ["brief"])
    if not isinstance(found, dict):
        return {"reachable": False, "role": None, "head": None, "halted": None}
    return {
        "reachable": True,
        "role": found.get("role"),
        "head": found.get("head"),
        "halted": found.get("halted"),
    }


def cluster(own: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """``own``: this node's full ``scf_consortium``; ``nodes``: the NodeRegistry's."""
    log_head = own.get("log_head")
    shown = []
    for node in nodes:
        if not node["allowed"]:
            continue
        state = (
            {"reachable": True, **{k: own.get(k) for k in ("role", "head", "halted")}}
            if node["id"] == own.get("node_id")
            else peer_state(node["endpoint"])
        )
        lag = None
        if log_head is not None and state["head"] is not None:
            lag = max(0, int(log_head) - int(state["head"]))
        shown.append({"id": node["id"], "endpoint": node["endpoint"], **state, "lag": lag})
    return {
        "role": own.get("role"),
        "halted": own.get("halted"),
        "minter": own.get("minter"),
        "log_head": log_head,
        "etcd": own.get("etcd", []),
        "nodes": shown,
    }


def view(ledger: Any, running: bool, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The cluster seen from a home: through its running node, or (stopped) from its peers."""
    own: dict[str, Any] = {"role": "stopped"}
    if running:
        from web3.types import RPCEndpoint

        try:
            answer = ledger.w3.provider.make_request(RPCEndpoint("scf_consortium"), ["full"])
        except Exception:  # the node is restarting its ledger: show the peers anyway
            answer = {}
        if isinstance(answer.get("result"), dict):
            own = answer["result"]
    return cluster(own, nodes)
