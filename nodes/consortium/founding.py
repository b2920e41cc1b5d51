"""``scf-node init --consortium``: the founding institution makes the network.

The founding node is the network's bootstrap sealer. It starts the chain's log in etcd at
its genesis, wins the minter election and deploys the consortium's contracts through the
log, as every later block is made (sealed, appended with the fenced compare-and-swap,
final once etcd commits it): a node that joins later replays the deployment from the log
like any other block. Its own node goes on the NodeRegistry allow-list at deployment.
Then it writes the network descriptor the other institutions join with.

The consortium CA (``<home>/consortium-ca``, made before) certifies nodes; the founding
institution's API gets a CA of its own in ``<home>/pki`` for its members' clients, as
every joining institution does (docs/decisions/0023).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from chain.accounts import Signer
from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog
from chain.consortium.election import Election
from chain.consortium.etcd import EtcdClient, EtcdTls
from chain.consortium.keys import ChainKeys
from chain.consortium.minter import EtcdFinality
from chain.consortium.replica import ConsortiumReplica, Role
from chain.consortium.seal import NodeKey, node_id
from chain.deploy import MemberSpec
from chain.errors import ScfError
from nodes.consortium.descriptor import (
    DESCRIPTOR_FILE,
    ConsortiumSettings,
    NetworkDescriptor,
)
from nodes.home import NodeHome

ELECTION_WAIT = 60.0  # seconds for the founding node to win the first election


class FoundingFailed(ScfError):
    code = "founding_failed"


def wait_for_role(replica: ConsortiumReplica, role: Role, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while replica.role is not role:
        if replica.halted is not None:
            raise FoundingFailed(f"the ledger halted: {replica.halted}")
        if time.monotonic() > deadline:
            raise FoundingFailed(f"this node did not become {role.value} within {timeout:.0f} s")
        time.sleep(0.05)  # poll interval, bounded by the deadline


def found_network(
    home: NodeHome,
    *,
    dev: bool,
    chain_id: int,
    passphrase: str,
    settings: ConsortiumSettings,
    rpc_url: str,
    operator_spec: Callable[[Signer], MemberSpec],
    tls: EtcdTls | None = None,
    peer_url: str | None = None,
    node_signer: Signer | None = None,
) -> NetworkDescriptor:
    """Create the home, the log and the contracts; write ``network.json``. ``tls``: the
    node's certificate for etcd; ``peer_url``: its history peer endpoint (mutual TLS),
    which the NodeRegistry and the descriptor name instead of its JSON-RPC; ``node_signer``:
    the node key its certificate already names (default: a new one)."""
    from chain.backends.embedded import EmbeddedLedger
    from chain.deploy import NodeSpec, deploy_consortium
    from nodes.consortium.certificates import consortium_ca_dir
    from nodes.pki.home import create_home_pki, institution_ca_name

    governor = Signer.create()
    node_signer = node_signer or Signer.create()
    key = NodeKey(node_signer.key)
    genesis_timestamp = int(time.time())
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(governor, passphrase)
    home.write_keystore(node_signer, passphrase, home.node_keystore)
    home.write_settings(
        {
            "chain_id": chain_id,
            "dev": dev,
            "genesis_timestamp": genesis_timestamp,
            "consortium": settings.as_json(),
        }
    )
    client = EtcdClient(settings.etcd, tls=tls)
    keys = ChainKeys(chain_id)
    block_log = BlockLog(client, keys)
    bootstrap = [node_id(key.public_key)]
    # the NodeRegistry is not deployed yet: the bootstrap sealer mints the deployment
    allow_list = AllowList(None, bootstrap)
    finality = EtcdFinality(block_log, key, allow_list)
    ledger = EmbeddedLedger(
        home.chain_dir,
        chain_id=chain_id,
        dev=dev,
        genesis_timestamp=genesis_timestamp,
        finality=finality,
    )
    election = Election(client, keys, rpc_url, ttl=settings.lease_ttl)
    replica = ConsortiumReplica(
        ledger.node, block_log, allow_list, finality=finality, election=election
    )
    try:
        replica.start()  # refuses a log that holds another chain under this chain id
        wait_for_role(replica, Role.MINTER, ELECTION_WAIT)
        operator = create_home_pki(
            home,
            passphrase,
            chain_id,
            operator_spec(governor),
            institution_ca_name(chain_id, "Founding institution"),
        )
        node = NodeSpec(key.public_key, peer_url or rpc_url)
        consortium = deploy_consortium(ledger, governor, operator, node=node)
        consortium.save(home.deployment)
        genesis = ledger.node.reader.get_canonical_block_header_by_number(0)  # type: ignore[arg-type]
    finally:
        ledger.close()  # seals nothing: every deployment transaction has its receipt
        replica.stop()
        client.close()
    descriptor = NetworkDescriptor(
        chain_id=chain_id,
        genesis_timestamp=genesis_timestamp,
        genesis_hash="0x" + bytes(genesis.hash).hex(),
        dev=dev,
        contracts=consortium.addresses(),
        ca_certificate=(consortium_ca_dir(home) / "ca.pem").read_text("utf-8"),
        etcd_endpoints=list(settings.etcd),
        bootstrap_nodes=["0x" + n.hex() for n in bootstrap],
        peers=[peer_url or rpc_url],
    )
    descriptor.save(home.path / DESCRIPTOR_FILE)
    return descriptor


def descriptor_path(home: NodeHome) -> Path:
    return home.path / DESCRIPTOR_FILE
