"""Decode the consortium's logs into named events, in ledger order.

The read model, Server-Sent Events and webhooks all consume ``ChainEvent``s
from here: one decoder built from the ABIs of the deployed contracts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.grammar import parse
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import FilterParams, LogReceipt

from chain.contract import checksum_addresses
from chain.deploy import Consortium
from chain.ledger import Ledger
from chain.revert import abi_type_of

_DYNAMIC = ("string", "bytes")


@dataclass(frozen=True)
class ChainEvent:
    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    log_index: int
    transaction_hash: bytes

    @property
    def position(self) -> tuple[int, int]:
        """Where the event stands in the ledger's total order."""
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class _EventSpec:
    contract: str
    name: str
    inputs: list[dict[str, Any]]


def _is_hashed_when_indexed(abi_type: str) -> bool:
    return abi_type in _DYNAMIC or abi_type.endswith("]") or abi_type.startswith("(")


class EventDecoder:
    """Decodes logs emitted by the consortium's contracts; other logs are skipped."""

    def __init__(self, consortium: Consortium) -> None:
        self._by_address: dict[str, dict[bytes, _EventSpec]] = {}
        for name, handle in consortium.contracts.items():
            specs: dict[bytes, _EventSpec] = {}
            for item in handle.artifact.abi:
                if item["type"] != "event":
                    continue
                types = ",".join(abi_type_of(i) for i in item["inputs"])
                specs[keccak(text=f"{item['name']}({types})")] = _EventSpec(
                    name, item["name"], item["inputs"]
                )
            self._by_address[handle.address.lower()] = specs
        self.addresses = [Web3.to_checksum_address(a) for a in self._by_address]

    def decode(self, log: LogReceipt) -> ChainEvent | None:
        specs = self._by_address.get(str(log["address"]).lower())
        topics = [bytes(t) for t in log["topics"]]
        if specs is None or not topics or topics[0] not in specs:
            return None
        spec = specs[topics[0]]
        indexed = [i for i in spec.inputs if i["indexed"]]
        plain = [i for i in spec.inputs if not i["indexed"]]
        args: dict[str, Any] = {}
        for item, topic in zip(indexed, topics[1:], strict=True):
            kind = abi_type_of(item)
            hashed = _is_hashed_when_indexed(kind)
            args[item["name"]] = topic if hashed else abi_decode([kind], topic)[0]
        values = abi_decode([abi_type_of(i) for i in plain], bytes(log["data"]))
        args.update({i["name"]: v for i, v in zip(plain, values, strict=True)})
        ordered = {
            i["name"]: checksum_addresses(parse(abi_type_of(i)), args[i["name"]])
            if not (i["indexed"] and _is_hashed_when_indexed(abi_type_of(i)))
            else args[i["name"]]
            for i in spec.inputs
        }
        return ChainEvent(
            contract=spec.contract,
            name=spec.name,
            args=ordered,
            block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
            transaction_hash=bytes(log["transactionHash"]),
        )

    def events(self, ledger: Ledger, from_block: int, to_block: int) -> Iterator[ChainEvent]:
        """The consortium's events in blocks ``from_block..to_block``, in ledger order."""
        params: FilterParams = {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": self.addresses,
        }
        logs = sorted(ledger.get_logs(params), key=lambda g: (g["blockNumber"], g["logIndex"]))
        for log in logs:
            event = self.decode(log)
            if event is not None:
                yield event
