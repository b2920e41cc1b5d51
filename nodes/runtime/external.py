"""An SCF Chain node over an external JSON-RPC ledger (the ``rpc`` backend).

Hyperledger Besu or GoQuorum in production, anvil in tests. The network runs the
ledger and checks its own blocks; the node deploys the consortium there once
(``scf-node init --ledger-url``) and then runs the indexer, the transaction
manager and the REST API over it (``scf-node start``).

Members never buy ether, so the network must charge no fees (Besu:
``--min-gas-price=0`` and ``zeroBaseFee`` in the genesis; anvil: ``--base-fee 0
--gas-price 0``). A network that does charge is named as such up front, instead
of letting every member's write fail with "insufficient funds" later.
"""

from __future__ import annotations

from web3.exceptions import Web3Exception

from chain.accounts import Signer
from chain.backends.rpc import RpcLedger
from chain.deploy import Consortium
from chain.errors import LedgerError, LedgerFeatureUnsupported, ScfError
from nodes.home import NodeHome

REQUEST_TIMEOUT = 30.0  # seconds per JSON-RPC request once running
PROBE_TIMEOUT = 10.0  # seconds for the first answer of a network
DEV_FUNDING_WEI = 10**21  # what --dev gives a governor on a development network that charges

FREE_GAS_HINT = (
    "run the network free of gas fees, as a consortium does (Besu: --min-gas-price=0 and "
    '"zeroBaseFee": true in the genesis config; anvil: --base-fee 0 --gas-price 0)'
)


class ExternalLedgerError(ScfError):
    """The external JSON-RPC network cannot serve this node (unreachable, wrong chain,
    contracts missing, fees the accounts cannot pay)."""

    code = "external_ledger_error"
    http_status = 503


def open_network(url: str, timeout: float = REQUEST_TIMEOUT) -> RpcLedger:
    """The network at ``url``, once it has answered its chain id and head block."""
    if not url.startswith(("http://", "https://")):
        raise ExternalLedgerError(
            f"the ledger URL must be an http:// or https:// JSON-RPC endpoint, got {url!r}",
            details={"url": url},
        )
    ledger = RpcLedger(url, timeout=min(timeout, PROBE_TIMEOUT))
    try:
        ledger.block_number()
        _ = ledger.chain_id
    except (LedgerError, Web3Exception, ValueError) as exc:
        ledger.close()
        reason = exc.message if isinstance(exc, ScfError) else f"{type(exc).__name__}: {exc}"
        raise ExternalLedgerError(
            f"no Ethereum JSON-RPC ledger answers at {url} ({reason}); start the network's "
            "node (Besu, GoQuorum or anvil) or check the URL",
            details={"url": url},
        ) from None
    ledger.close()
    return RpcLedger(url, timeout=timeout)


def fee_per_gas(ledger: RpcLedger) -> int:
    """What a transaction of this platform pays per gas on ``ledger`` (0 on a consortium)."""
    return int(ledger.fee_params()["maxFeePerGas"])


def fee_warning(ledger: RpcLedger) -> str | None:
    """A warning when the network charges fees that member accounts cannot pay."""
    fee = fee_per_gas(ledger)
    if fee == 0:
        return None
    return (
        f"the network at {ledger.url} charges gas fees ({fee} wei per gas). Member accounts "
        "hold no ether, so the network refuses their transactions with 'insufficient funds'; "
        + FREE_GAS_HINT
    )


def prepare_governor(ledger: RpcLedger, governor: Signer, dev: bool) -> str | None:
    """Make sure ``governor`` can pay for the deployment; a note on what was done, if any.

    On a network free of fees nothing is needed. Otherwise the governor needs ether:
    genesis funds accounts on Besu or GoQuorum (``--governor-keystore``); ``dev`` funds
    it on a development network (anvil's ``anvil_setBalance``).
    """
    if fee_per_gas(ledger) == 0 or ledger.get_balance(governor.address) > 0:
        return None
    if not dev:
        raise ExternalLedgerError(
            f"the network at {ledger.url} charges gas fees and the governor "
            f"{governor.address} holds no ether: give --governor-keystore an account the "
            f"genesis funds, or {FREE_GAS_HINT}",
            details={"url": ledger.url, "governor": governor.address},
        )
    try:
        ledger.fund(governor.address, DEV_FUNDING_WEI)
    except LedgerFeatureUnsupported:
        raise ExternalLedgerError(
            f"--dev cannot fund the governor: the network at {ledger.url} is no development "
            f"node (no anvil_setBalance); give --governor-keystore a funded account, or "
            f"{FREE_GAS_HINT}",
            details={"url": ledger.url, "governor": governor.address},
        ) from None
    return f"--dev: funded the governor {governor.address} through anvil_setBalance"


def check_chain_id(ledger: RpcLedger, expected: int) -> None:
    if ledger.chain_id != expected:
        raise ExternalLedgerError(
            f"the network at {ledger.url} has chain id {ledger.chain_id}, but this home's "
            f"consortium is on chain {expected}: check ledger_url in node.json",
            details={"url": ledger.url, "chain_id": ledger.chain_id, "expected": expected},
        )


def open_consortium(home: NodeHome, ledger: RpcLedger) -> Consortium:
    """The home's consortium on ``ledger``, after checking the network is the one it was
    deployed to: same chain id, the same block 0 (when the home keeps the network
    descriptor), every contract's code present."""
    check_chain_id(ledger, int(home.read_settings()["chain_id"]))
    _check_descriptor(home, ledger)
    consortium = Consortium.load(ledger, home.deployment)
    missing = sorted(
        name for name, address in consortium.addresses().items() if not ledger.get_code(address)
    )
    if missing:
        raise ExternalLedgerError(
            f"the consortium contracts of {home.deployment} are not on the network at "
            f"{ledger.url} (no code for {', '.join(missing)}); was the network reset? A "
            "development node such as anvil forgets its chain when it stops: initialize "
            "a new home for a new network",
            details={"url": ledger.url, "missing": missing},
        )
    return consortium


def _check_descriptor(home: NodeHome, ledger: RpcLedger) -> None:
    """A home made by ``init`` or ``join --ledger-url`` keeps the network's descriptor: a
    network with the same chain id but another block 0 (a development node started afresh
    with code at the same addresses, a fork) is not the home's."""
    from nodes.consortium.descriptor import (
        DESCRIPTOR_FILE,
        ExternalNetworkDescriptor,
        read_descriptor,
    )
    from nodes.consortium.external_network import check_genesis

    path = home.path / DESCRIPTOR_FILE
    if not path.exists():  # a home made before descriptors were written
        return
    descriptor = read_descriptor(path)
    if isinstance(descriptor, ExternalNetworkDescriptor):
        check_genesis(ledger, descriptor)
