"""Upgrading a running consortium's business contracts by proposal (docs/decisions/0013).

Each business contract is a ConsortiumProxy whose implementation governance may replace: a
new implementation is deployed with the same immutables as the current one
(``deploy_implementation``), its code hash is read and checked by the governors, and a
proposal calls the proxy's ``upgradeToVerified(implementation, codeHash, data)``. State,
address and history stay with the proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import rlp  # type: ignore[import-untyped]
from eth_utils.crypto import keccak
from web3 import Web3

from chain.artifacts import Artifact, load_artifact
from chain.contract import ContractHandle, creation_data, send_transaction
from chain.deploy import UPGRADEABLE, implementation_arg_names, implementation_args
from chain.errors import ContractRevert, ScfError

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


# The dry run's default sender: it sends nothing and needs no key; a ledger without fees (the
# embedded one) lets an empty account call.
DRY_RUN_SENDER = "0x000000000000000000000000000000000000dEaD"


@dataclass(frozen=True)
class ImplementationCheck:
    """Whether the code at ``implementation`` is business contract ``contract``'s released
    build with this consortium's immutables; ``problems`` says what differs, in words."""

    contract: str
    implementation: str
    code_hash: str
    problems: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.problems


def check_implementation(
    consortium: Consortium,
    name: str,
    implementation: str,
    caller: str = DRY_RUN_SENDER,
    artifact: Artifact | None = None,
    addresses: Mapping[str, str] | None = None,
) -> ImplementationCheck:
    """Compare the runtime code at ``implementation`` with what the released build of ``name``
    (the node's artifact, or ``artifact``) deploys with this consortium's immutables.

    The expected code is the artifact's constructor run without a transaction (a dry-run
    deployment), so every immutable is filled in as a real deployment fills it: governance and
    the sibling contracts' proxies (``implementation_args``), and the implementation's own
    address (UUPS ``__self``), which the dry run's created address stands for and is replaced by
    ``implementation``. ``caller`` is the dry run's sender (any account the ledger lets call;
    nothing is sent). ``name`` may also be an importer, ``<contract>Import``
    (chain/migration.py), built with its contract's immutables; ``addresses`` replaces the
    consortium's own contract addresses (a migration's successors). ``upgradeToVerified``
    checks the code hash and governance only; this also catches right code built with a wrong
    sibling address."""
    base = name.removesuffix("Import")
    if base not in UPGRADEABLE:
        raise ScfError(
            f"{name} is not an upgradeable business contract; one of {', '.join(UPGRADEABLE)}"
            " (or an importer of one, <contract>Import)",
            details={"contract": name},
        )
    target = Web3.to_checksum_address(implementation)
    addresses = addresses or consortium.addresses()
    labels = implementation_arg_names(base)
    build = artifact or load_artifact(name)
    return _check_code(consortium.ledger, name, target, build, labels, addresses, caller)


def _check_code(
    ledger: Ledger,
    name: str,
    target: str,
    build: Artifact,
    labels: tuple[str, ...],
    addresses: Mapping[str, str],
    caller: str,
) -> ImplementationCheck:
    """Whether the code at ``target`` is what ``build`` deploys with the addresses of
    ``labels`` as its constructor arguments (a dry run; its created address stands for
    ``target``, as a UUPS implementation's ``__self``)."""
    actual = ledger.get_code(target)
    check = ImplementationCheck(name, target, "0x" + keccak(actual).hex())
    if not actual:
        check.problems.append(f"no contract at {target}")
        return check
    try:
        data = creation_data(build, *(addresses[n] for n in labels))
    except (TypeError, ValueError):
        check.problems.append(
            f"the build {build.name} is not built from ({', '.join(labels)}), as {name} is"
        )
        return check
    sender = Web3.to_checksum_address(caller)
    dry_run_address = _created_address(sender, ledger.get_transaction_count(sender, "latest"))
    try:
        expected = ledger.call({"from": sender, "data": data})
    except ContractRevert as exc:
        check.problems.append(f"the build {build.name} does not deploy: {exc}")
        return check
    expected = expected.replace(dry_run_address, _raw(target))
    check.problems.extend(_differences(expected, actual, {n: addresses[n] for n in labels}))
    return check


# The registries, deployed plainly (not behind a proxy), with the contracts whose addresses
# their constructors keep as immutables.
REGISTRIES: dict[str, tuple[str, ...]] = {
    "MemberRegistry": ("ConsortiumGovernance",),
    "NodeRegistry": ("ConsortiumGovernance", "MemberRegistry"),
}


def check_deployment(
    ledger: Ledger, addresses: Mapping[str, str], caller: str = DRY_RUN_SENDER
) -> dict[str, list[str]]:
    """What is wrong, by contract name, with ``addresses`` as a consortium's deployment on
    ``ledger`` (empty when nothing is): each address must hold the released build of the
    contract it is named for, with the other addresses as its immutables. A business
    contract is a ConsortiumProxy whose implementation ``check_implementation`` accepts.
    Catches a descriptor whose addresses are exchanged, which code at each address alone
    does not."""
    from chain.deploy import Consortium

    consortium = Consortium(
        ledger, {n: ContractHandle.at(ledger, n, a) for n, a in addresses.items()}
    )
    found: dict[str, list[str]] = {}
    # governance keeps no immutable (its constructor's committee goes to storage): its code
    # is the build's runtime code as it is
    governance = addresses["ConsortiumGovernance"]
    if ledger.get_code(governance) != load_artifact("ConsortiumGovernance").deployed_bytecode:
        found["ConsortiumGovernance"] = [
            f"the code at {governance} is not the released ConsortiumGovernance"
        ]
    for name, labels in REGISTRIES.items():
        target = Web3.to_checksum_address(addresses[name])
        check = _check_code(ledger, name, target, load_artifact(name), labels, addresses, caller)
        found[name] = check.problems
    proxy_code = load_artifact("ConsortiumProxy").deployed_bytecode
    for name in UPGRADEABLE:
        proxy = consortium.contracts[name]
        if ledger.get_code(proxy.address) != proxy_code:
            found[name] = [f"no ConsortiumProxy at {proxy.address}"]
            continue
        implementation = implementation_of(proxy)
        check = check_implementation(consortium, name, implementation, caller, None, addresses)
        found[name] = [f"its implementation {implementation}: {p}" for p in check.problems]
    return {name: problems for name, problems in found.items() if problems}


def _raw(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x"))


def _created_address(sender: str, nonce: int) -> bytes:
    return keccak(rlp.encode([_raw(sender), nonce]))[12:]


def _differences(expected: bytes, actual: bytes, immutables: dict[str, str]) -> list[str]:
    """What differs between two runtime codes, naming an immutable where one differs."""
    if len(expected) != len(actual):
        return [
            f"the code is not the released build ({len(actual)} bytes, the build has "
            f"{len(expected)})"
        ]
    problems: list[str] = []
    seen: set[str] = set()
    for at in (i for i in range(len(expected)) if expected[i] != actual[i]):
        label = _immutable_at(expected, at, immutables)
        if label is None:
            return [f"the code is not the released build (first difference at byte {at})"]
        if label not in seen:
            seen.add(label)
            start = expected.find(_raw(immutables[label]), max(0, at - 19))
            found = Web3.to_checksum_address(actual[start : start + 20])
            problems.append(
                f"immutable {label} is {found}, the consortium's is {immutables[label]}"
            )
    return problems


def _immutable_at(code: bytes, at: int, immutables: dict[str, str]) -> str | None:
    """The immutable whose address covers byte ``at`` of ``code``, if one does."""
    for label, address in immutables.items():
        start = code.find(_raw(address), max(0, at - 19))
        if start != -1 and start <= at < start + 20:
            return label
    return None
