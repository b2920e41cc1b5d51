"""Decode the consortium's logs into named events, in ledger order.

The read model, Server-Sent Events and webhooks all consume ``ChainEvent``s
from here: one decoder built from the ABIs of the deployed contracts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.types import FilterParams, LogReceipt

from chain.deploy import Consortium
from chain.event_codec import EventSpec, as_bytes, event_specs
from chain.ledger import Ledger


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


class EventDecoder:
    """Decodes logs emitted by the consortium's contracts; other logs are skipped."""

    def __init__(self, consortium: Consortium) -> None:
        self._by_address: dict[str, tuple[str, dict[bytes, EventSpec]]] = {
            handle.address.lower(): (name, event_specs(handle.artifact.abi))
            for name, handle in consortium.contracts.items()
        }
        self.addresses = [Web3.to_checksum_address(a) for a in self._by_address]

    def decode(self, log: LogReceipt) -> ChainEvent | None:
        found = self._by_address.get(str(log["address"]).lower())
        topics = [as_bytes(t) for t in log["topics"]]
        if found is None or not topics or topics[0] not in found[1]:
            return None
        contract, specs = found
        spec = specs[topics[0]]
        return ChainEvent(
            contract=contract,
            name=spec.name,
            args=spec.decode(topics, as_bytes(log["data"])),
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
