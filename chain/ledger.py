"""The one interface every ledger backend implements.

A ``Ledger`` speaks Ethereum's vocabulary (raw transactions, receipts, logs,
calls), so the embedded node, any JSON-RPC node and eth-tester can stand
behind it. Development features (snapshots, time travel, funding accounts)
exist only where the backend supports them and raise
``LedgerFeatureUnsupported`` elsewhere.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from typing import Any, ClassVar

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import BlockData, FilterParams, LogReceipt, TxData, TxParams, TxReceipt

from chain.errors import (
    ContractRevert,
    LedgerFeatureUnsupported,
    ReceiptTimeout,
    TransactionRefused,
)
from chain.revert import decode_revert

BlockId = int | str


FEE_PARAMS_MAX_AGE = 1.0  # seconds
RECHECK_POLLS = 20  # a waiter asks for its receipt at least every 20 polls of the head


class HeadWatch:
    """The head block number of a ledger, polled by one waiting thread at a time.

    ``wait_for_change(seen, ...)`` returns once the head differs from ``seen`` (a new
    block, or a rewound chain on a development ledger). Whichever waiter finds nobody
    polling sleeps ``poll`` seconds and reads the head; the others wait for its answer.
    """

    def __init__(self, read_head: Callable[[], int]) -> None:
        self._read_head = read_head
        self._cond = threading.Condition()
        self._polling = False
        self.last = -1  # the head as last read; -1 before the first read

    def wait_for_change(self, seen: int, timeout: float, poll: float) -> int:
        """The head once it is not ``seen`` any more, or as it is when ``timeout`` ends."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while self._polling and self.last == seen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self.last != seen or time.monotonic() >= deadline:
                    return self.last
                self._polling = True
            try:
                time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
                head = self._read_head()
                with self._cond:
                    self.last = head
            finally:
                with self._cond:
                    self._polling = False
                    self._cond.notify_all()


class Ledger(ABC):
    """A ledger the platform can read and write."""

    name: ClassVar[str]
    # Whether writers should execute a write as a call before sending it. A ledger where a
    # reverted transaction costs its sender nothing and whose custom error can be read back
    # exactly says False: the refusal then comes from the receipt, one execution instead of
    # two. Elsewhere (gas may cost money, several transactions share a block) rehearse.
    rehearse_writes: ClassVar[bool] = True
    _fees: tuple[float, dict[str, int]] | None = None  # (when read, fee params)

    @property
    @abstractmethod
    def chain_id(self) -> int: ...

    @abstractmethod
    def block_number(self) -> int: ...

    @abstractmethod
    def get_block(self, block: BlockId | bytes = "latest") -> BlockData: ...

    def block_timestamp(self, block: int) -> int:
        """The timestamp (UTC seconds) of block number ``block``."""
        return int(self.get_block(block)["timestamp"])

    @abstractmethod
    def get_balance(self, address: str) -> int: ...

    @abstractmethod
    def get_transaction_count(self, address: str, block: BlockId = "pending") -> int: ...

    @abstractmethod
    def get_code(self, address: str) -> bytes: ...

    @abstractmethod
    def call(self, tx: TxParams, block: BlockId = "latest") -> bytes:
        """Execute without a transaction; a revert raises ``ContractRevert``."""

    @abstractmethod
    def estimate_gas(self, tx: TxParams) -> int:
        """Gas for ``tx``; a revert raises ``ContractRevert``. Never on the hot path."""

    @abstractmethod
    def send_raw_transaction(self, raw: bytes) -> bytes:
        """Submit a signed transaction; return its hash."""

    @abstractmethod
    def get_transaction_receipt(self, tx_hash: bytes) -> TxReceipt | None: ...

    @abstractmethod
    def get_transaction(self, tx_hash: bytes) -> TxData | None:
        """The transaction as sent (sender, target, input), None if the ledger has none."""

    @abstractmethod
    def get_logs(self, filter_params: FilterParams) -> list[LogReceipt]: ...

    def dropped_reason(self, tx_hash: bytes) -> str | None:
        """Why the ledger left an accepted transaction out of its block, when it can tell
        (the embedded node can); ``None`` if it was not dropped or the ledger cannot say."""
        return None

    def fee_params(self) -> dict[str, int]:
        """EIP-1559 fees for a new transaction: the consortium charges (almost) nothing.

        A zero base fee (the consortium's ledgers) is remembered for
        ``FEE_PARAMS_MAX_AGE`` seconds instead of loading the latest block for every
        transaction. A charging ledger is read every time: its base fee rises by 1/8 per
        full block, and a development chain mines many blocks a second (or reverts to a
        snapshot), so a remembered fee would soon be below the block's."""
        now = time.monotonic()
        cached = self._fees
        if cached is not None and now - cached[0] < FEE_PARAMS_MAX_AGE:
            return dict(cached[1])
        base_fee = int(self.get_block("latest").get("baseFeePerGas", 0))
        fees = {"maxFeePerGas": 2 * base_fee, "maxPriorityFeePerGas": 0}
        self._fees = (now, fees) if base_fee == 0 else None
        return dict(fees)

    def wait_for_transaction_receipt(
        self, tx_hash: bytes, timeout: float = 30.0, poll: float = 0.01
    ) -> TxReceipt:
        """Wait until ``tx_hash`` is in a block, or raise ``ReceiptTimeout``.

        The receipt is asked for again only when the head has moved: all threads waiting
        on this ledger share one poll of the block number every ``poll`` seconds, instead
        of each polling for its own receipt."""
        deadline = time.monotonic() + timeout
        head = self._heads.last
        while True:
            # ``head`` was seen before this check: if the receipt is missing, the
            # transaction can only appear in a block after it.
            receipt = self.get_transaction_receipt(tx_hash)
            if receipt is not None:
                return receipt
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReceiptTimeout(
                    f"no receipt for transaction 0x{bytes(tx_hash).hex()} after {timeout}s",
                    details={"tx_hash": "0x" + bytes(tx_hash).hex()},
                )
            # Checked again after a while even with no new head seen: a rewound development
            # chain can be back at the same height with other blocks.
            head = self._heads.wait_for_change(head, min(remaining, RECHECK_POLLS * poll), poll)

    @cached_property
    def _heads(self) -> HeadWatch:
        return HeadWatch(self.block_number)

    def revert_of(self, tx: TxParams, receipt: TxReceipt) -> ContractRevert:
        """The custom error of a mined, failed transaction, recovered by replaying ``tx``
        (with its gas: some reverts, out of gas in a sub-call, need it) as a call on the
        state before its block."""
        data = b""
        try:
            self.call(tx, int(receipt["blockNumber"]) - 1)
        except Exception as exc:
            data = bytes(getattr(exc, "data", b""))
        return decode_revert(data, tx_hash=bytes(receipt["transactionHash"]))

    # ---- development features -------------------------------------------------------------
    def snapshot(self) -> Any:
        raise LedgerFeatureUnsupported(f"the {self.name} ledger has no snapshots")

    def revert(self, snapshot_id: Any) -> None:
        raise LedgerFeatureUnsupported(f"the {self.name} ledger has no snapshots")

    def increase_time(self, seconds: int) -> None:
        """Move the ledger clock forward and mine a block at the new time."""
        raise LedgerFeatureUnsupported(f"the {self.name} ledger cannot travel in time")

    def mine(self, blocks: int = 1) -> None:
        raise LedgerFeatureUnsupported(f"the {self.name} ledger cannot mine on demand")

    def fund(self, address: str, wei: int) -> None:
        """Give ``address`` ether for gas (development and admission funding)."""
        raise LedgerFeatureUnsupported(f"the {self.name} ledger cannot fund accounts")

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release resources; the default has none."""


class Web3Ledger(Ledger):
    """A ledger reached through a web3.py ``Web3`` instance (any provider)."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def get_block(self, block: BlockId | bytes = "latest") -> BlockData:
        return self.w3.eth.get_block(block)  # type: ignore[arg-type]

    def get_balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(_checksum(address)))

    def get_transaction_count(self, address: str, block: BlockId = "pending") -> int:
        return int(self.w3.eth.get_transaction_count(_checksum(address), block))  # type: ignore[arg-type]

    def get_code(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(_checksum(address)))

    def call(self, tx: TxParams, block: BlockId = "latest") -> bytes:
        try:
            return bytes(self.w3.eth.call(tx, block))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raise decode_revert(_revert_bytes(exc)) from None

    def estimate_gas(self, tx: TxParams) -> int:
        try:
            return int(self.w3.eth.estimate_gas(tx))
        except ContractLogicError as exc:
            raise decode_revert(_revert_bytes(exc)) from None

    def send_raw_transaction(self, raw: bytes) -> bytes:
        try:
            return bytes(self.w3.eth.send_raw_transaction(raw))
        except Web3RPCError as exc:
            error = exc.rpc_response.get("error") if exc.rpc_response else None
            message = error.get("message", str(exc)) if isinstance(error, dict) else str(exc)
            raise TransactionRefused(message, details={"rpc_error": error}) from None

    def get_transaction_receipt(self, tx_hash: bytes) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def get_transaction(self, tx_hash: bytes) -> TxData | None:
        try:
            return self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def get_logs(self, filter_params: FilterParams) -> list[LogReceipt]:
        return list(self.w3.eth.get_logs(filter_params))


def _checksum(address: str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


def _revert_bytes(exc: ContractLogicError) -> bytes:
    data = exc.data
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""
