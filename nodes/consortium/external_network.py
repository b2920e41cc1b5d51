"""A consortium on an external JSON-RPC network (Besu, GoQuorum; anvil in tests), joined by
a second institution's API node.

``scf-node init --ledger-url`` deploys the contracts and writes the network descriptor
(``describe``). ``scf-node join --descriptor FILE --ledger-url URL`` makes another
institution's home from it (``join_external``): it first checks that the ledger at URL is
the descriptor's network (chain id, the hash of block 0, each contract's code is the
released build of the contract its address is named for), then writes
a governor key of its own (it governs nothing until the committee makes it a governor), the
home's settings, the deployment (never deployed again) and a key and certificate request
for its node, which the founding operator signs (``nodes.consortium.certificates``). The
network orders and checks the blocks; each institution's node runs its own read model, API
keys, document vault and custodial keys over it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from chain.accounts import Signer
from chain.backends.rpc import RpcLedger
from chain.consortium.seal import NodeKey
from chain.deploy import Consortium
from nodes.consortium.certificates import consortium_ca_dir
from nodes.consortium.descriptor import (
    DESCRIPTOR_FILE,
    DescriptorInvalid,
    ExternalNetworkDescriptor,
)
from nodes.home import RPC_LEDGER, NodeHome
from nodes.runtime.external import ExternalLedgerError


class NotTheNetwork(ExternalLedgerError):
    """The ledger at the URL is not the network the descriptor describes."""

    code = "network_mismatch"


def genesis_hash(ledger: RpcLedger) -> str:
    return "0x" + bytes(ledger.get_block(0)["hash"]).hex()


def describe(
    home: NodeHome, ledger: RpcLedger, consortium: Consortium, dev: bool
) -> ExternalNetworkDescriptor:
    """The descriptor of the consortium just deployed to ``ledger``, written to the home."""
    descriptor = ExternalNetworkDescriptor(
        chain_id=ledger.chain_id,
        genesis_hash=genesis_hash(ledger),
        deployment_block=consortium.deployment_block,
        dev=dev,
        contracts=consortium.addresses(),
        ca_certificate=(consortium_ca_dir(home) / "ca.pem").read_text("utf-8"),
    )
    descriptor.save(home.path / DESCRIPTOR_FILE)
    return descriptor


def check_network(ledger: RpcLedger, descriptor: ExternalNetworkDescriptor) -> None:
    """Refuse a ledger of another chain, another network under the same chain id (a
    restarted development node, a fork), or one without the contracts at their addresses."""
    url = ledger.url
    if ledger.chain_id != descriptor.chain_id:
        raise NotTheNetwork(
            f"the network at {url} has chain id {ledger.chain_id}, the descriptor's is "
            f"{descriptor.chain_id}",
            details={"url": url, "chain_id": ledger.chain_id, "expected": descriptor.chain_id},
        )
    check_genesis(ledger, descriptor)
    missing = sorted(
        name for name, address in descriptor.contracts.items() if not ledger.get_code(address)
    )
    if missing:
        raise NotTheNetwork(
            f"the network at {url} holds no contract at the descriptor's address for "
            f"{', '.join(missing)}: a damaged descriptor, or the deployment is not on it",
            details={"url": url, "missing": missing},
        )
    check_contracts(ledger, descriptor)


def check_contracts(ledger: RpcLedger, descriptor: ExternalNetworkDescriptor) -> None:
    """Refuse a descriptor whose addresses do not hold the contracts they are named for
    (two exchanged, say): each must be the released build, with the descriptor's other
    addresses as its immutables (``chain.upgrades.check_deployment``)."""
    from chain.upgrades import check_deployment

    wrong = check_deployment(ledger, descriptor.contracts)
    if wrong:
        named = "; ".join(f"{name}: {', '.join(problems)}" for name, problems in wrong.items())
        raise NotTheNetwork(
            f"the descriptor's addresses on the network at {ledger.url} are not the contracts "
            f"they are named for ({named}): a damaged descriptor, or another deployment",
            details={"url": ledger.url, "contracts": wrong},
        )


def check_genesis(ledger: RpcLedger, descriptor: ExternalNetworkDescriptor) -> None:
    """Refuse another network under the descriptor's chain id: its block 0 differs."""
    url = ledger.url
    found = genesis_hash(ledger)
    if found != descriptor.genesis_hash:
        raise NotTheNetwork(
            f"the network at {url} has chain id {descriptor.chain_id} but its block 0 is "
            f"{found}, the descriptor's is {descriptor.genesis_hash}: another network (or "
            "one started afresh) under the same chain id",
            details={"url": url, "genesis_hash": found, "expected": descriptor.genesis_hash},
        )


def check_ca(descriptor: ExternalNetworkDescriptor) -> None:
    try:
        x509.load_pem_x509_certificate(descriptor.ca_certificate.encode())
    except ValueError:
        raise DescriptorInvalid("the descriptor's consortium CA is no PEM certificate") from None


@dataclass(frozen=True)
class JoinedHome:
    governor: str  # its address: a governor only once the committee votes it in
    certificate_request: Path  # the node's CSR, for the founding operator to sign
    node_public_key: str  # 0x-hex: for the NodeRegistry entry (node propose-add)


def write_node_key(home: NodeHome, passphrase: str) -> NodeKey:
    """The node's secp256k1 key, its NodeRegistry identity: on this route it seals no
    block; it signs what it sends other institutions' nodes (documents, ADR 22) and
    vouches for its TLS key in its certificate request."""
    key = Signer.create()
    home.write_keystore(key, passphrase, home.node_keystore)
    return NodeKey(key.key)


def join_external(
    home: NodeHome,
    descriptor: ExternalNetworkDescriptor,
    ledger: RpcLedger,
    passphrase: str,
) -> JoinedHome:
    """Write the joining institution's home over ``ledger`` (checked with
    ``check_network`` first); the caller removes what was written if this fails."""
    from nodes.consortium.certificates import write_node_request

    governor = Signer.create()
    home.path.mkdir(parents=True, exist_ok=True)
    home.write_keystore(governor, passphrase)
    home.write_settings(
        {
            "ledger": RPC_LEDGER,
            "ledger_url": ledger.url,
            "chain_id": descriptor.chain_id,
            "dev": descriptor.dev,
        }
    )
    deployment = {
        "chain_id": descriptor.chain_id,
        "contracts": descriptor.contracts,
        "deployment_block": descriptor.deployment_block,
    }  # as chain.deploy.Consortium.save writes it: the contracts are never deployed again
    home.deployment.write_text(json.dumps(deployment, indent=2, sort_keys=True) + "\n", "utf-8")
    descriptor.save(home.path / DESCRIPTOR_FILE)
    name = f"api-node-{governor.address[2:18].lower()}"
    node_key = write_node_key(home, passphrase)
    request = write_node_request(home, descriptor, passphrase, name, node_key)
    return JoinedHome(governor.address, request, "0x" + node_key.public_key.hex())


def home_parts(home: NodeHome) -> list[Path]:
    """What ``init --ledger-url`` and ``join --ledger-url`` write, keys first
    (``nodes.commands.init.remove_made`` then drops ``keys/``)."""
    descriptor = home.path / DESCRIPTOR_FILE
    parts = [home.keystore, home.settings, home.deployment, home.pki_dir, descriptor]
    return [*parts, consortium_ca_dir(home)]
