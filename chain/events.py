"""Decode the consortium's logs into named events, in ledger order.

The read model, Server-Sent Events and webhooks all consume ``ChainEvent``s
from here: one decoder built from the ABIs of the deployed contracts.

A consortium that adopted the current contracts by a migration (chain/migration.py) keeps
its history at the retired legacy addresses: the decoder reads them too, under the same
contract names, with the events the legacy code emitted (two of them had fewer fields), and
reads the successors with their importers' events too (``LegacyInvoiceRekeyed``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.types import FilterParams, LogReceipt

from chain.artifacts import load_artifact
from chain.deploy import Consortium
from chain.errors import ArtifactError
from chain.event_codec import EventSpec, as_bytes, event_specs
from chain.ledger import Ledger

# Events whose legacy form (the contracts before issue 21, commit 95f011a) had fewer fields:
# decoded under the same name at retired addresses; the projections default what is missing.
_LEGACY_EVENTS: dict[str, list[dict[str, Any]]] = {
    "InvoiceRegistry": [
        {
            "type": "event",
            "name": "InvoiceRegistered",
            "anonymous": False,
            "inputs": [
                {"indexed": True, "name": "key", "type": "bytes32"},
                {"indexed": True, "name": "sellerId", "type": "uint256"},
                {"indexed": True, "name": "buyerId", "type": "uint256"},
                {"indexed": False, "name": "amount", "type": "uint256"},
                {"indexed": False, "name": "issueDate", "type": "uint64"},
                {"indexed": False, "name": "dueDate", "type": "uint64"},
                {"indexed": False, "name": "documentHash", "type": "bytes32"},
            ],
        }
    ],
    "FinancingHub": [
        {
            "type": "event",
            "name": "FinancingRequested",
            "anonymous": False,
            "inputs": [
                {"indexed": True, "name": "requestId", "type": "uint256"},
                {"indexed": True, "name": "certificateId", "type": "uint256"},
                {"indexed": True, "name": "financierId", "type": "uint256"},
                {"indexed": False, "name": "requesterId", "type": "uint256"},
                {"indexed": False, "name": "requesterAccount", "type": "address"},
                {"indexed": False, "name": "amount", "type": "uint256"},
                {"indexed": False, "name": "agreementHash", "type": "bytes32"},
                {"indexed": False, "name": "expiresAt", "type": "uint64"},
            ],
        }
    ],
}


def _specs_of(name: str, abi: list[dict[str, Any]]) -> dict[bytes, EventSpec]:
    """Contract ``name``'s events: ``abi``'s, its importer's (a migration's successors ran it)
    and its legacy forms."""
    try:
        importer = event_specs(load_artifact(f"{name}Import").abi)
    except ArtifactError:
        importer = {}
    return importer | event_specs(_LEGACY_EVENTS.get(name, [])) | event_specs(abi)


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
        # Legacy forms too: a node of this release indexes a pre-proxy consortium before and
        # after it migrates (their topics differ, so no current contract emits them).
        self._by_address: dict[str, tuple[str, dict[bytes, EventSpec]]] = {
            handle.address.lower(): (name, _specs_of(name, handle.artifact.abi))
            for name, handle in consortium.contracts.items()
        }
        # What the current deployment names; the retired legacy contracts come on top.
        self.current = [Web3.to_checksum_address(a) for a in self._by_address]
        for name, address in consortium.retired.items():
            self._by_address[address.lower()] = (name, _specs_of(name, load_artifact(name).abi))
        self.retired = [Web3.to_checksum_address(a) for a in consortium.retired.values()]
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

    def events(
        self,
        ledger: Ledger,
        from_block: int,
        to_block: int,
        addresses: Sequence[str] | None = None,
    ) -> Iterator[ChainEvent]:
        """The consortium's events in blocks ``from_block..to_block``, in ledger order (of
        ``addresses`` only, when given)."""
        params: FilterParams = {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": list(addresses) if addresses is not None else self.addresses,  # type: ignore[typeddict-item]
        }
        logs = sorted(ledger.get_logs(params), key=lambda g: (g["blockNumber"], g["logIndex"]))
        for log in logs:
            event = self.decode(log)
            if event is not None:
                yield event
