"""``scf-node join``: a new institution makes its home from the network descriptor.

The home gets the descriptor's genesis (checked against its hash), contracts and CA, a
governor key of the institution's own (no governor on chain until the committee makes
it one), a node key, and a certificate request for its node (``certificates``). Then
the node syncs as a learner: it replays and re-executes every block of the log, each
checked against its seal and the allow-list, before the home is called made. It can
sync and verify from then on, and stands for minter only once a committee vote has put
its node on the NodeRegistry allow-list (``scf-node node propose-add``).
"""

from __future__ import annotations

import json
import time

from chain.accounts import Signer
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.peers import Peer
from chain.consortium.replica import ConsortiumReplica
from chain.consortium.seal import NodeKey, node_id
from chain.embedded.node import EmbeddedNode
from chain.errors import ScfError
from nodes.consortium.descriptor import DESCRIPTOR_FILE, ConsortiumSettings, NetworkDescriptor
from nodes.home import NodeHome

SYNC_TIMEOUT = 600.0  # seconds to replay the log on joining


class JoinFailed(ScfError):
    code = "join_failed"


def join_network(
    home: NodeHome,
    descriptor: NetworkDescriptor,
    *,
    passphrase: str,
    settings: ConsortiumSettings,
) -> NodeKey:
    """Make the home and sync it to the log's head; the node key (its public key is what
    the committee votes to allow)."""
    from chain.backends.embedded import EmbeddedLedger
    from nodes.consortium.certificates import write_node_request

    governor, node_signer = Signer.create(), Signer.create()
    key = NodeKey(node_signer.key)
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(governor, passphrase)
    home.write_keystore(node_signer, passphrase, home.node_keystore)
    home.write_settings(
        {
            "chain_id": descriptor.chain_id,
            "dev": descriptor.dev,
            "genesis_timestamp": descriptor.genesis_timestamp,
            "consortium": settings.as_json(),
        }
    )
    descriptor.save(home.path / DESCRIPTOR_FILE)
    write_node_request(home, descriptor, passphrase, f"node-{node_id(key.public_key).hex()[:16]}")
    client = EtcdClient(settings.etcd)
    ledger = EmbeddedLedger(
        home.chain_dir,
        chain_id=descriptor.chain_id,
        dev=descriptor.dev,
        genesis_timestamp=descriptor.genesis_timestamp,
    )
    try:
        genesis = ledger.node.reader.get_canonical_block_header_by_number(0)  # type: ignore[arg-type]
        if "0x" + bytes(genesis.hash).hex() != descriptor.genesis_hash:
            raise JoinFailed(
                f"the descriptor's genesis parameters give 0x{bytes(genesis.hash).hex()}, "
                f"not its genesis {descriptor.genesis_hash}: a damaged descriptor"
            )
        _sync(ledger.node, client, descriptor)
    finally:
        ledger.close()
        client.close()
    payload = {"chain_id": descriptor.chain_id, "contracts": descriptor.contracts}
    home.deployment.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", "utf-8")
    return key


def _sync(node: EmbeddedNode, client: EtcdClient, descriptor: NetworkDescriptor) -> None:
    """Follow the log as a learner until the node holds its head as it was at the start."""
    block_log = BlockLog(client, ChainKeys(descriptor.chain_id))
    head = block_log.head()
    if head is None:
        raise JoinFailed(f"etcd holds no chain {descriptor.chain_id}: is the network founded?")
    peers = [Peer(url) for url in descriptor.peers]  # for blocks older than etcd's window
    replica = ConsortiumReplica(
        node, block_log, AllowList(descriptor.registry, descriptor.bootstrap), peers=peers
    )
    replica.start()  # refuses a log whose genesis is not the descriptor's
    try:
        deadline = time.monotonic() + SYNC_TIMEOUT
        while node.head.block_number < head.height:
            if replica.halted is not None:
                raise JoinFailed(f"the log's blocks did not verify: {replica.halted}")
            if time.monotonic() > deadline:
                raise JoinFailed(f"not synced to block {head.height} in {SYNC_TIMEOUT:.0f} s")
            time.sleep(0.1)  # poll interval, bounded by the deadline
    finally:
        replica.stop()
