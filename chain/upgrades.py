"""Upgrading a running consortium's business contracts by proposal (docs/decisions/0013).

Each business contract is a ConsortiumProxy whose implementation governance may replace: a
new implementation is deployed with the same immutables as the current one
(``deploy_implementation``), its code hash is read and checked by the governors, and a
proposal calls the proxy's ``upgradeToVerified(implementation, codeHash, data)``. State,
address and history stay with the proxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak
from web3 import Web3

from chain.artifacts import Artifact, load_artifact
from chain.contract import ContractHandle, creation_data, send_transaction
from chain.deploy import UPGRADEABLE, implementation_args
from chain.errors import ScfError

if TYPE_CHECKING:
    from chain.accounts import Signer
    from chain.deploy import Consortium
    from chain.governance import Call
    from chain.ledger import Ledger


def code_hash(ledger: Ledger, address: str) -> bytes:
    """keccak-256 of the runtime code at ``address``: what an upgrade proposal records."""
    code = ledger.get_code(Web3.to_checksum_address(address))
    if not code:
        raise ScfError(f"no contract at {address}", details={"address": address})
    return keccak(code)


def implementation_of(proxy: ContractHandle) -> str:
    """The implementation a business contract's proxy runs now."""
    return str(proxy.call("implementation"))


def implementation_creation(
    consortium: Consortium, name: str, artifact: Artifact | None = None
) -> bytes:
    """The data of a transaction deploying a new implementation for business contract
    ``name`` (the artifact of that name in the build directory, or ``artifact``), built with
    the immutables its proxy's current implementation has."""
    if name not in UPGRADEABLE:
        raise ScfError(
            f"{name} is not an upgradeable business contract; one of {', '.join(UPGRADEABLE)}",
            details={"contract": name},
        )
    args = implementation_args(name, consortium.addresses())
    return creation_data(artifact or load_artifact(name), *args)


def deploy_implementation(
    consortium: Consortium, deployer: Signer, name: str, artifact: Artifact | None = None
) -> ContractHandle:
    """Deploy what ``implementation_creation`` describes; return its handle (at the
    implementation, not the proxy)."""
    artifact = artifact or load_artifact(name)
    data = implementation_creation(consortium, name, artifact)
    receipt = send_transaction(consortium.ledger, deployer, to=None, data=data)
    return ContractHandle(consortium.ledger, artifact, str(receipt["contractAddress"]))


def upgrade_call(
    proxy: ContractHandle, implementation: str, expected_code_hash: bytes, data: bytes = b""
) -> Call:
    """The proposal action that points ``proxy`` at ``implementation`` if its code hashes to
    ``expected_code_hash``, then runs ``data`` (e.g. a ``reinitializer``) on the new code."""
    args = (Web3.to_checksum_address(implementation), expected_code_hash, data)
    return (proxy, "upgradeToVerified", args)
