"""Consortium nodes that forward, in-process: each serves its JSON-RPC as a ledger process
does (``nodes.consortium.stack``: the consortium's methods, signed forwards without a
token, raw transactions refused while the node may not submit), stands in the election
under that URL (a validator) and forwards what it is sent and does not mint to the minter
the election names."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_account import Account

from chain.backends.embedded import DEV_FAUCET_KEY, EmbeddedLedger
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.minter import EtcdFinality
from chain.consortium.replica import ConsortiumReplica, Role
from chain.consortium.seal import NodeKey, node_id
from chain.embedded.finality import FollowOnly
from chain.embedded.http import make_server, serve_in_background
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS
from nodes.consortium.forward import FORWARD_METHOD, ConsortiumRpc, ForwardedCheck, Forwarder
from nodes.consortium.submit_gate import SubmitGate
from tests.chain.consortium.ledger_nodes import GENESIS_TIMESTAMP, TTL, Network, Node

MINTER_GAS_CAP = 100_000  # a pair's minter caps gas lower than its verifier (node.json)
RECEIVER = "0x" + "55" * 20


@dataclass
class ForwardingNode:
    name: str
    key: NodeKey
    ledger: EmbeddedLedger
    replica: ConsortiumReplica
    forwarder: Forwarder
    rpc: ConsortiumRpc
    client: EtcdClient
    server: ThreadingHTTPServer
    url: str
    token: str
    serving: bool = True

    @property
    def role(self) -> Role:
        return self.replica.role

    @property
    def head(self) -> int:
        return int(self.ledger.node.head.block_number)

    def stop_serving(self) -> None:
        """The JSON-RPC goes away (the node is unreachable); the rest runs on."""
        if self.serving:
            self.serving = False
            self.server.shutdown()
            self.server.server_close()

    def close(self) -> None:
        """As ``ConsortiumStack.close_with``: a minter seals its queue while it still holds
        the election; a follower stops following before its store closes."""
        self.forwarder.stop()
        if self.role is Role.MINTER:
            self.ledger.close()
            self.replica.stop()
        else:
            self.replica.stop()
            self.ledger.close()
        self.stop_serving()
        self.client.close()


def signed_transfer(
    node: ForwardingNode | Node, nonce: int, *, gas: int = 21_000, to: str = RECEIVER
) -> bytes:
    """A transfer from the development faucet, signed for ``node``'s chain, not sent."""
    faucet = Account.from_key(DEV_FAUCET_KEY)
    signed = faucet.sign_transaction(
        {
            "to": to,
            "value": 1,
            "gas": gas,
            "nonce": nonce,
            "chainId": node.ledger.chain_id,
            **node.ledger.fee_params(),
        }
    )
    return bytes(signed.raw_transaction)


def start_forwarding_node(
    directory: Path,
    network: Network,
    name: str,
    key: NodeKey,
    *,
    max_transaction_gas: int = DEFAULT_MAX_TRANSACTION_GAS,
    learner: bool = False,
    stands: bool = True,
) -> ForwardingNode:
    """A validator with ``key`` (or a ``learner``) as ``scf-node start`` runs one, in this
    process. A validator that does not ``stand`` never campaigns for minter (a test that
    decides who mints): it takes and forwards transactions as any validator does."""
    client = EtcdClient(network.endpoints)
    keys = ChainKeys(network.chain_id)
    block_log = BlockLog(client, keys)
    allow_list = AllowList(network.registry, network.bootstrap)
    finality = None if learner or not stands else EtcdFinality(block_log, key, allow_list)

    def minting() -> bool:
        return finality is not None and finality.can_mint()

    ledger = EmbeddedLedger(
        directory / name,
        chain_id=network.chain_id,
        dev=True,
        block_time=0.01,
        genesis_timestamp=GENESIS_TIMESTAMP,
        finality=finality or FollowOnly(),
        max_transaction_gas=max_transaction_gas,
    )
    forwarders: list[Forwarder] = []
    check = ForwardedCheck(ledger.node, allow_list, network.chain_id, minting)

    def submitted(raw: bytes) -> None:
        forwarders[0].submitted(raw)

    def status(detail: str) -> dict[str, Any]:
        return {"head": int(ledger.node.head.block_number)}

    gate = SubmitGate(ledger.node, allow_list, node_id(key.public_key), learner=learner)
    rpc = ConsortiumRpc(ledger.handler, check, submitted, status, minting, gate.refusal)
    token = secrets.token_hex(16)
    server = make_server(rpc, "127.0.0.1", 0, token=token, open_methods=frozenset({FORWARD_METHOD}))
    serve_in_background(server)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    replica = ConsortiumReplica(
        ledger.node,
        block_log,
        allow_list,
        finality=finality,
        election=None if finality is None else Election(client, keys, url, ttl=TTL),
    )
    forwarder = Forwarder(
        ledger.node,
        Election(client, keys, url),
        key,
        network.chain_id,
        minting=minting,
    )
    forwarders.append(forwarder)
    replica.start()
    forwarder.start()
    return ForwardingNode(name, key, ledger, replica, forwarder, rpc, client, server, url, token)
