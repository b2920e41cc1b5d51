"""Event logs decoded straight with the ABI codec, as web3.py would decode them.

web3.py's ``process_receipt`` builds an event object per event name and runs its whole
log-processing pipeline; a write route that only wants the new certificate's id spent
more on that than on signing its transaction. Here a log is matched on its first topic
and decoded with ``eth_abi``: indexed values from the topics (a hashed one, for dynamic
types, stays the 32-byte topic), the rest from the data, addresses checksummed, the
arguments in ABI order: what web3.py puts in ``EventData.args``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse
from eth_utils.conversions import to_bytes
from eth_utils.crypto import keccak
from web3 import Web3

from chain.revert import abi_type_of

_DYNAMIC = ("string", "bytes")


def checksum_addresses(abi_type: ABIType, value: Any) -> Any:
    """Decoded values as web3.py returns them: addresses checksummed, arrays as lists."""
    if abi_type.is_array:
        return [checksum_addresses(abi_type.item_type, v) for v in value]
    if isinstance(abi_type, TupleType):
        return tuple(
            checksum_addresses(t, v) for t, v in zip(abi_type.components, value, strict=True)
        )
    if isinstance(abi_type, BasicType) and abi_type.base == "address":
        return Web3.to_checksum_address(value)
    return value


def _is_hashed_when_indexed(abi_type: str) -> bool:
    return abi_type in _DYNAMIC or abi_type.endswith("]") or abi_type.startswith("(")


def as_bytes(value: Any) -> bytes:
    """A topic or data field as bytes, whether formatted (bytes) or raw JSON-RPC (hex)."""
    return to_bytes(hexstr=value) if isinstance(value, str) else bytes(value)


@dataclass(frozen=True)
class EventSpec:
    """One event of an ABI and how to decode its logs."""

    name: str
    names: tuple[str, ...]  # every input, in ABI order
    indexed: tuple[tuple[str, str, bool], ...]  # (name, type, hashed) per indexed input
    plain_names: tuple[str, ...]
    plain_types: tuple[str, ...]
    # inputs web3.py shapes after decoding: addresses checksummed, arrays as lists
    shaped: tuple[tuple[str, ABIType], ...]

    @classmethod
    def of(cls, item: dict[str, Any]) -> EventSpec:
        inputs = item["inputs"]
        indexed = tuple(
            (i["name"], abi_type_of(i), _is_hashed_when_indexed(abi_type_of(i)))
            for i in inputs
            if i["indexed"]
        )
        plain = [i for i in inputs if not i["indexed"]]
        hashed = {name for name, _, is_hashed in indexed if is_hashed}
        shaped = tuple(
            (i["name"], parse(abi_type_of(i)))
            for i in inputs
            if any(mark in abi_type_of(i) for mark in ("address", "[", "("))
            and i["name"] not in hashed
        )
        return cls(
            name=item["name"],
            names=tuple(i["name"] for i in inputs),
            indexed=indexed,
            plain_names=tuple(i["name"] for i in plain),
            plain_types=tuple(abi_type_of(i) for i in plain),
            shaped=shaped,
        )

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        """The event's arguments from a log's topics (the first one is the event's) and
        data."""
        found: dict[str, Any] = {}
        for (name, kind, hashed), topic in zip(self.indexed, topics[1:], strict=True):
            found[name] = topic if hashed else abi_decode([kind], topic)[0]
        values = abi_decode(list(self.plain_types), data)
        found.update(zip(self.plain_names, values, strict=True))
        for name, abi_type in self.shaped:
            found[name] = checksum_addresses(abi_type, found[name])
        return {name: found[name] for name in self.names}


def event_specs(abi: Iterable[dict[str, Any]]) -> dict[bytes, EventSpec]:
    """Each event of ``abi`` under its first topic (the hash of its signature)."""
    specs: dict[bytes, EventSpec] = {}
    for item in abi:
        if item["type"] == "event" and not item.get("anonymous"):
            types = ",".join(abi_type_of(i) for i in item["inputs"])
            specs[keccak(text=f"{item['name']}({types})")] = EventSpec.of(item)
    return specs
