"""The ``embedded`` backend: the persistent py-evm node in this process.

Reads go through the node's JSON-RPC handler by an in-process web3 provider,
so what this backend sees is exactly what JSON-RPC clients see (receipts, read
once per transaction, take a shortcut to the same result: the handler's answer
through web3.py's receipt formatter, without its middlewares). Raw
transactions go straight to ``EmbeddedNode.submit`` (what the handler's
``eth_sendRawTransaction`` calls too), without a hex round trip through web3.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, cast

from web3 import Web3
from web3.types import TxParams, TxReceipt

from chain.backends.faucet import fund_from_faucet
from chain.backends.receipts import LazyReceipt
from chain.embedded.calls import DEFAULT_MAX_CALL_GAS, DEFAULT_MAX_CALL_SECONDS
from chain.embedded.core import EmbeddedCore
from chain.embedded.faucet import DEV_FAUCET_BALANCE, DEV_FAUCET_KEY
from chain.embedded.finality import Finality
from chain.embedded.node import TransactionRejected
from chain.embedded.provider import NodeProvider
from chain.embedded.rpc import data
from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS
from chain.embedded.vm import BASE_FEE
from chain.errors import (
    ContractRevert,
    LedgerError,
    LedgerFeatureUnsupported,
    ReceiptTimeout,
    TransactionDropped,
    TransactionRefused,
)
from chain.ledger import Web3Ledger
from chain.revert import decode_revert

__all__ = ["DEV_FAUCET_BALANCE", "DEV_FAUCET_KEY", "EmbeddedLedger", "fund_from_faucet"]


class EmbeddedLedger(Web3Ledger):
    name: ClassVar[str] = "embedded"
    rehearse_writes: ClassVar[bool] = False  # zero fees; the producer keeps revert data

    def __init__(
        self,
        data_dir: Path | str,
        *,
        chain_id: int = 8_888,
        dev: bool = False,
        block_time: float = 0.05,
        block_max_transactions: int = 500,
        deployment: Path | str | None = None,
        window_from_arrival: bool = False,
        max_transaction_gas: int = DEFAULT_MAX_TRANSACTION_GAS,
        max_call_gas: int = DEFAULT_MAX_CALL_GAS,
        max_call_seconds: float = DEFAULT_MAX_CALL_SECONDS,
        genesis_timestamp: int | None = None,
        finality: Finality | None = None,
    ) -> None:
        """``deployment``: the consortium's ``deployment.json``; when it exists the node
        admits raw transactions only from active members and governors.
        ``window_from_arrival``: see ``NodeConfig`` (for a ledger in a process of its own).
        ``max_transaction_gas``: the most gas one transaction may ask for
        (``chain.embedded.rules``). ``max_call_gas``, ``max_call_seconds``: the gas cap and
        the time limit of one ``eth_call`` or ``eth_estimateGas`` (``chain.embedded.calls``).
        ``genesis_timestamp``: the genesis block's time (nodes of one network share it).
        ``finality``: consortium mode (``chain.embedded.finality``); None: a single node."""
        self.dev = dev
        self.core = EmbeddedCore.open(
            data_dir,
            chain_id=chain_id,
            dev=dev,
            block_time=block_time,
            block_max_transactions=block_max_transactions,
            deployment=deployment,
            window_from_arrival=window_from_arrival,
            max_transaction_gas=max_transaction_gas,
            max_call_gas=max_call_gas,
            max_call_seconds=max_call_seconds,
            genesis_timestamp=genesis_timestamp,
            finality=finality,
        )
        self.node = self.core.node
        self.handler = self.core.handler
        super().__init__(Web3(NodeProvider(self.handler)))

    def admit_only_members(self, members: str, governance: str) -> None:
        """As ``EmbeddedCore.admit_only_members`` says."""
        self.core.admit_only_members(members, governance)

    def retire_contracts(self, addresses: Iterable[str]) -> None:
        """As ``EmbeddedCore.retire_contracts`` says."""
        self.core.retire_contracts(addresses)

    def send_raw_transaction(self, raw: bytes) -> bytes:
        try:
            return self.node.submit(bytes(raw))
        except TransactionRejected as exc:  # the refusal as a JSON-RPC client would see it
            error = {"code": exc.code, "message": str(exc)}
            raise TransactionRefused(str(exc), details={"rpc_error": error}) from None

    def dropped_reason(self, tx_hash: bytes) -> str | None:
        return self.node.rejection_of(bytes(tx_hash))

    def fee_params(self) -> dict[str, int]:
        """As the base class says: the base fee of every block is ``BASE_FEE``."""
        return {"maxFeePerGas": BASE_FEE, "maxPriorityFeePerGas": 0}

    def get_transaction_receipt(self, tx_hash: bytes) -> TxReceipt | None:
        """The receipt as web3.py would return it, without web3.py's request pipeline:
        the handler's JSON-RPC answer through web3.py's own receipt formatter. Every
        transaction of every writer reads one, and the middlewares (ENS names, validation,
        gas strategies: nothing a receipt read needs) cost more than the formatting; the
        formatting itself waits until a field other than the status is read
        (``LazyReceipt``)."""
        found = self.handler.handle("eth_getTransactionReceipt", [data(bytes(tx_hash))])
        if found is None:
            return None
        return cast(TxReceipt, LazyReceipt(found))

    def wait_for_transaction_receipt(
        self, tx_hash: bytes, timeout: float = 30.0, poll: float = 0.01
    ) -> TxReceipt:
        """Wait for the block without polling; a transaction the node dropped at block
        building raises ``TransactionDropped`` at once."""
        if not self.node.wait_for_block_after(bytes(tx_hash), timeout):
            raise ReceiptTimeout(
                f"no receipt for transaction 0x{bytes(tx_hash).hex()} after {timeout}s",
                details={"tx_hash": "0x" + bytes(tx_hash).hex()},
            )
        receipt = self.get_transaction_receipt(tx_hash)
        if receipt is not None:
            return receipt
        reason = self.node.rejection_of(bytes(tx_hash))
        if reason is not None:
            raise TransactionDropped(
                f"transaction 0x{bytes(tx_hash).hex()} was dropped from its block: {reason}",
                details={"tx_hash": "0x" + bytes(tx_hash).hex(), "reason": reason},
            )
        return super().wait_for_transaction_receipt(tx_hash, timeout, poll)

    def revert_of(self, tx: TxParams, receipt: TxReceipt) -> ContractRevert:
        """The custom error as the producer saw it when it sealed the block (exact even when
        an earlier transaction of the same block caused the revert); for blocks it no longer
        holds, the base class's replay."""
        tx_hash = bytes(receipt["transactionHash"])
        output = self.node.revert_output(tx_hash)
        if output is None:
            return super().revert_of(tx, receipt)
        return decode_revert(output, tx_hash=tx_hash)

    def _require_dev(self, what: str) -> None:
        if not self.dev:
            raise LedgerFeatureUnsupported(f"{what} needs a ledger started with --dev")

    def snapshot(self) -> str:
        """An opaque snapshot id of the head (queued transactions sealed first); revert once."""
        self._require_dev("snapshots")
        return str(self.handler.handle("evm_snapshot", []))

    def revert(self, snapshot_id: Any) -> None:
        self._require_dev("snapshots")
        if self.handler.handle("evm_revert", [snapshot_id]) is not True:
            raise LedgerError(
                f"the embedded ledger has no snapshot {snapshot_id!r} "
                "(a snapshot can be reverted to only once)",
                details={"snapshot": str(snapshot_id)},
            )

    def increase_time(self, seconds: int) -> None:
        self._require_dev("time travel")
        self.handler.handle("evm_increaseTime", [seconds])
        self.handler.handle("evm_mine", [])

    def mine(self, blocks: int = 1) -> None:
        self._require_dev("mining on demand")
        for _ in range(blocks):
            self.handler.handle("evm_mine", [])

    def fund(self, address: str, wei: int) -> None:
        self._require_dev("funding accounts")
        fund_from_faucet(self, address, wei)

    def close(self) -> None:
        self.core.close()
