"""``scf-node join``: a new institution makes its home from the network descriptor.

The home gets the descriptor's genesis (checked against its hash), contracts and CA, a
governor key of the institution's own (no governor on chain until the committee makes
it one), a node key, and a certificate request for its node (``certificates``). Then
the node syncs as a learner: it replays and re-executes every block of the log, each
checked against its seal and the allow-list, before the home is called made. It can
sync and verify from then on, and stands for minter only once a committee vote has put
its node on the NodeRegistry allow-list (``scf-node node propose-add``).

Between machines etcd is reached over https with the node's certificate, so the
certificate comes first: ``scf-node node request-certificate`` makes the home's node key
and request, the founding operator signs it, ``node install-certificate`` keeps it, and
``join`` then uses that key (``prepared``). The institution's API gets a CA of its own
in ``<home>/pki`` for its members' clients, made here: its key never leaves the home,
and the consortium CA, whose key only the founding home holds, certifies nodes only
(docs/decisions/0023).
"""

from __future__ import annotations

import json
import ssl
import time

from chain.accounts import Signer
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.etcd import EtcdClient
from chain.consortium.keys import ChainKeys
from chain.consortium.peers import Peer
from chain.consortium.replica import ConsortiumReplica
from chain.consortium.seal import NodeKey, node_id
from chain.embedded.finality import FollowOnly
from chain.embedded.node import EmbeddedNode
from chain.errors import ScfError
from nodes.consortium.descriptor import DESCRIPTOR_FILE, ConsortiumSettings, NetworkDescriptor
from nodes.home import NodeHome

SYNC_TIMEOUT = 600.0  # seconds to replay the log on joining


class JoinFailed(ScfError):
    code = "join_failed"


def prepare_node(home: NodeHome, descriptor: NetworkDescriptor, passphrase: str) -> NodeKey:
    """A new home's node key and certificate request, before it joins (``scf-node node
    request-certificate``): what an etcd over https needs first."""
    from nodes.consortium.certificates import write_node_request

    node_signer = Signer.create()
    key = NodeKey(node_signer.key)
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(node_signer, passphrase, home.node_keystore)
    name = f"node-{node_id(key.public_key).hex()[:16]}"
    write_node_request(home, descriptor, passphrase, name, key)
    return key


def is_prepared(home: NodeHome) -> bool:
    """Whether the home holds only what ``prepare_node`` made (and the certificate)."""
    others = [
        home.keystore,
        home.settings,
        home.deployment,
        home.chain_dir,
        home.pki_dir / "ca.pem",
    ]
    return home.node_keystore.exists() and not any(p.exists() for p in others)


def join_network(
    home: NodeHome,
    descriptor: NetworkDescriptor,
    *,
    passphrase: str,
    settings: ConsortiumSettings,
    institution: str = "Joining institution",
) -> NodeKey:
    """Make the home and sync it to the log's head; the node key (its public key is what
    the committee votes to allow). A prepared home keeps its node key; over https etcd
    it must hold its certificate."""
    from chain.backends.embedded import EmbeddedLedger
    from nodes.consortium.certificates import has_certificate, write_node_request
    from nodes.consortium.stack import etcd_tls, node_key_of, peer_tls
    from nodes.pki.ca import ConsortiumCA
    from nodes.pki.home import institution_ca_name

    prepared = is_prepared(home)
    if settings.etcd_tls and not (prepared and has_certificate(home)):
        raise JoinFailed(
            "etcd over https needs this node's certificate from the consortium CA first: "
            "scf-node node request-certificate, the founding operator's node certify, then "
            "scf-node node install-certificate on this home"
        )
    if prepared:
        try:
            key = node_key_of(home, passphrase)
        except ValueError:  # eth-account: "MAC mismatch"
            raise JoinFailed(
                f"the passphrase does not open {home.node_keystore} (made by node "
                "request-certificate): give the same one"
            ) from None
    else:
        node_signer = Signer.create()
        key = NodeKey(node_signer.key)
        home.path.mkdir(parents=True, exist_ok=True)
        home.write_keystore(node_signer, passphrase, home.node_keystore)
        name = f"node-{node_id(key.public_key).hex()[:16]}"
        write_node_request(home, descriptor, passphrase, name, key)
    governor = Signer.create()
    home.write_keystore(governor, passphrase)
    home.write_settings(
        {
            "chain_id": descriptor.chain_id,
            "dev": descriptor.dev,
            "genesis_timestamp": descriptor.genesis_timestamp,
            "consortium": settings.as_json(),
        }
    )
    descriptor.save(home.path / DESCRIPTOR_FILE)
    # the institution's own CA, for its API and its members' clients: never the consortium's
    ConsortiumCA.create(
        home.pki_dir, passphrase, institution_ca_name(descriptor.chain_id, institution)
    )
    tls = etcd_tls(home, settings, passphrase)
    peers_tls = peer_tls(home, passphrase)
    client = EtcdClient(settings.etcd, tls=tls)
    ledger = EmbeddedLedger(
        home.chain_dir,
        chain_id=descriptor.chain_id,
        dev=descriptor.dev,
        genesis_timestamp=descriptor.genesis_timestamp,
        finality=FollowOnly(),  # it follows the log; nothing it holds is ever minted here
    )
    try:
        genesis = ledger.node.reader.get_canonical_block_header_by_number(0)  # type: ignore[arg-type]
        if "0x" + bytes(genesis.hash).hex() != descriptor.genesis_hash:
            raise JoinFailed(
                f"the descriptor's genesis parameters give 0x{bytes(genesis.hash).hex()}, "
                f"not its genesis {descriptor.genesis_hash}: a damaged descriptor"
            )
        _sync(ledger.node, client, descriptor, peers_tls.client if peers_tls else None)
    finally:
        ledger.close()
        client.close()
    payload = {"chain_id": descriptor.chain_id, "contracts": descriptor.contracts}
    home.deployment.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", "utf-8")
    return key


def _sync(
    node: EmbeddedNode,
    client: EtcdClient,
    descriptor: NetworkDescriptor,
    peer_tls: ssl.SSLContext | None,
) -> None:
    """Follow the log as a learner until the node holds its head as it was at the start."""
    block_log = BlockLog(client, ChainKeys(descriptor.chain_id))
    head = block_log.head()
    if head is None:
        raise JoinFailed(f"etcd holds no chain {descriptor.chain_id}: is the network founded?")
    # for blocks older than etcd's window: an https peer wants this node's certificate
    peers = [Peer(url, context=peer_tls) for url in descriptor.peers]
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
