"""Contract handles: encode calls from the ABI, send them signed, decode results and events.

``ContractHandle.call("memberOf", account)`` and
``ContractHandle.transact(signer, "admitMember", ...)`` use the Solidity names,
so a search finds both sides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.grammar import parse
from eth_typing import ABI, ABIFunction, ChecksumAddress
from eth_utils.abi import get_abi_output_types
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import EventData, TxParams, TxReceipt
from web3.utils import get_abi_element

from chain.accounts import Signer
from chain.artifacts import Artifact, load_artifact
from chain.errors import ArtifactError
from chain.event_codec import EventSpec, as_bytes, checksum_addresses, event_specs
from chain.ledger import Ledger
from chain.revert import abi_type_of

# Head-room over an estimate: calls that catch a failing sub-call need more than the minimum.
GAS_MARGIN_PERCENT = 30

_ENCODER = Web3()


def send_transaction(
    ledger: Ledger,
    signer: Signer,
    *,
    to: str | None,
    data: bytes,
    gas: int | None = None,
    value: int = 0,
) -> TxReceipt:
    """Sign and send one transaction, wait for its receipt; a revert raises ``ContractRevert``.

    Gas is estimated only when not given (tests and tools). The writers on the hot
    path pass it explicitly through the transaction manager.
    """
    tx: dict[str, Any] = {
        "from": signer.address,
        "data": data,
        "value": value,
        "chainId": ledger.chain_id,
        "nonce": ledger.get_transaction_count(signer.address, "pending"),
        **ledger.fee_params(),
    }
    if to is not None:
        tx["to"] = Web3.to_checksum_address(to)
    if gas is None:
        estimate = ledger.estimate_gas(_call_params(tx))
        gas = estimate + estimate * GAS_MARGIN_PERCENT // 100
    tx["gas"] = gas
    raw, tx_hash = signer.sign_transaction({k: v for k, v in tx.items() if k != "from"})
    ledger.send_raw_transaction(raw)
    receipt = ledger.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        # Replay with the same gas: some reverts (out of gas in a sub-call) need it.
        raise ledger.revert_of({**_call_params(tx), "gas": gas}, receipt)
    return receipt


def logs_of(receipt: TxReceipt) -> Sequence[Any]:
    """The receipt's logs, raw (hex strings) from a receipt not yet formatted."""
    raw = getattr(receipt, "raw_logs", None)
    return receipt["logs"] if raw is None else raw


def _call_params(tx: dict[str, Any]) -> TxParams:
    keys = ("from", "to", "data", "value")
    return {k: tx[k] for k in keys if k in tx}  # type: ignore[return-value]


class ContractHandle:
    """A deployed contract: its artifact, its address and the ledger it lives on."""

    def __init__(self, ledger: Ledger, artifact: Artifact, address: str) -> None:
        self.ledger = ledger
        self.artifact = artifact
        self.address: ChecksumAddress = Web3.to_checksum_address(address)
        self._contract: type[Contract] | Contract = _ENCODER.eth.contract(
            address=self.address, abi=artifact.abi
        )

    @classmethod
    def at(cls, ledger: Ledger, name: str, address: str) -> ContractHandle:
        return cls(ledger, load_artifact(name), address)

    def __repr__(self) -> str:
        return f"<{self.artifact.name} at {self.address}>"

    def encode(self, fn_name: str, *args: Any) -> bytes:
        """Calldata for ``fn_name(*args)``.

        Every write encodes: a function without overloads or address arguments goes
        straight to web3.py's own (strict) ABI codec with its selector. Anything that
        codec does not take as it is (a hex string for bytes, a wrong argument) goes
        through web3.py's whole path, which normalizes it or raises its own errors."""
        plain = self._plain_functions.get(fn_name)
        if plain is not None and len(args) == len(plain[1]):
            selector, types = plain
            try:
                return selector + _ENCODER.codec.encode(types, args)
            except Exception:  # web3.py's path below decides
                pass
        encoded: str = self._contract.encode_abi(fn_name, args=list(args))
        return bytes.fromhex(encoded.removeprefix("0x"))

    @cached_property
    def _plain_functions(self) -> dict[str, tuple[bytes, list[str]]]:
        """Selector and input types of each function without overloads or addresses."""
        functions = [item for item in self.artifact.abi if item["type"] == "function"]
        names = Counter(item["name"] for item in functions)
        plain: dict[str, tuple[bytes, list[str]]] = {}
        for item in functions:
            types = [abi_type_of(i) for i in item["inputs"]]
            # web3.py refuses addresses without their checksum, the codec does not
            if names[item["name"]] == 1 and not any("address" in t for t in types):
                signature = f"{item['name']}({','.join(types)})"
                plain[item["name"]] = (keccak(text=signature)[:4], types)
        return plain

    def call(
        self, fn_name: str, *args: Any, sender: str | None = None, block: int | str = "latest"
    ) -> Any:
        """Result of a view call; a single return value is unwrapped, several come as a tuple."""
        params: dict[str, Any] = {"to": self.address, "data": self.encode(fn_name, *args)}
        if sender is not None:
            params["from"] = Web3.to_checksum_address(sender)
        raw = self.ledger.call(params, block)  # type: ignore[arg-type]
        abi = get_abi_element(
            cast(ABI, self.artifact.abi), fn_name, *args, abi_codec=_ENCODER.codec
        )
        types = get_abi_output_types(cast(ABIFunction, abi))
        values = tuple(
            checksum_addresses(parse(t), v)
            for t, v in zip(types, abi_decode(types, raw), strict=True)
        )
        return values[0] if len(values) == 1 else values

    def call_struct(
        self, fn_name: str, *args: Any, sender: str | None = None, block: int | str = "latest"
    ) -> dict[str, Any]:
        """Result of a view call returning one struct, by the struct's field names in the ABI
        (web3.py decodes a struct as a tuple; its fields are read by name, never by index)."""
        values = self.call(fn_name, *args, sender=sender, block=block)
        abi = get_abi_element(
            cast(ABI, self.artifact.abi), fn_name, *args, abi_codec=_ENCODER.codec
        )
        return struct_fields(cast(ABIFunction, abi), values)

    def transact(
        self, signer: Signer, fn_name: str, *args: Any, gas: int | None = None, value: int = 0
    ) -> TxReceipt:
        """Send ``fn_name(*args)`` signed by ``signer``; wait for and return the receipt."""
        return send_transaction(
            self.ledger,
            signer,
            to=self.address,
            data=self.encode(fn_name, *args),
            gas=gas,
            value=value,
        )

    def events(self, receipt: TxReceipt, name: str | None = None) -> list[EventData]:
        """Decoded events this contract emitted in ``receipt``, optionally only ``name``."""
        names = [name] if name else [e["name"] for e in self.artifact.abi if e["type"] == "event"]
        found: list[EventData] = []
        for event_name in names:
            event = self._contract.events[event_name]()
            found.extend(
                e
                for e in event.process_receipt(receipt, errors=DISCARD)
                if e["address"] == self.address
            )
        found.sort(key=lambda e: e["logIndex"])
        return found

    def event_args(self, receipt: TxReceipt, name: str) -> dict[str, Any]:
        """Arguments of the one ``name`` event this contract emitted in ``receipt``, as
        ``events`` has them, decoded straight from the logs (``chain.event_codec``)."""
        matches = []
        for log in logs_of(receipt):
            topics = [as_bytes(t) for t in log["topics"]]
            spec = self._event_specs.get(topics[0]) if topics else None
            if spec is not None and spec.name == name and self._emitted(log["address"]):
                matches.append(spec.decode(topics, as_bytes(log["data"])))
        if len(matches) != 1:
            raise LookupError(f"expected one {name} event from {self!r}, found {len(matches)}")
        return matches[0]

    @cached_property
    def _event_specs(self) -> dict[bytes, EventSpec]:
        return event_specs(self.artifact.abi)

    def _emitted(self, address: str) -> bool:
        return address == self.address or address.lower() == self.address.lower()


def deploy_contract(
    ledger: Ledger, signer: Signer, name: str, *args: Any, gas: int | None = None
) -> ContractHandle:
    """Deploy contract ``name`` with constructor ``args``; return its handle."""
    return deploy_artifact(ledger, signer, load_artifact(name), *args, gas=gas)


def deploy_artifact(
    ledger: Ledger, signer: Signer, artifact: Artifact, *args: Any, gas: int | None = None
) -> ContractHandle:
    """Deploy ``artifact`` (from contracts/build or compiled elsewhere) with ``args``."""
    name = artifact.name
    if not artifact.deployable:
        raise ArtifactError(f"{name} is abstract or an interface and cannot be deployed")
    data = creation_data(artifact, *args)
    receipt = send_transaction(ledger, signer, to=None, data=data, gas=gas)
    address = receipt["contractAddress"]
    if address is None:
        raise ArtifactError(f"deploying {name} returned no contract address")
    return ContractHandle(ledger, artifact, address)


def creation_data(artifact: Artifact, *args: Any) -> bytes:
    """The data of a transaction deploying ``artifact`` with constructor ``args``."""
    factory = _ENCODER.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    return bytes.fromhex(factory.constructor(*args).data_in_transaction.removeprefix("0x"))


def encode_calls(
    calls: Sequence[tuple[ContractHandle, str, Sequence[Any]]],
) -> tuple[list[ChecksumAddress], list[bytes]]:
    """Targets and calldatas for a governance proposal from (contract, function, args) triples."""
    targets = [handle.address for handle, _, _ in calls]
    datas = [handle.encode(fn, *args) for handle, fn, args in calls]
    return targets, datas


def struct_fields(function: ABIFunction, values: Sequence[Any]) -> dict[str, Any]:
    """The struct ``function`` returns, decoded as ``values``, by its ABI field names."""
    outputs = function.get("outputs", [])
    if len(outputs) != 1 or outputs[0].get("type") != "tuple":
        raise TypeError(f"{function.get('name')} does not return one struct")
    names = [component["name"] for component in outputs[0].get("components", [])]
    return dict(zip(names, values, strict=True))
