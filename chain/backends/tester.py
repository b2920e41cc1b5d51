"""The ``tester`` backend: eth-tester's py-evm chain in memory, for fast tests.

Auto-mines one block per transaction and supports snapshots, time travel and
funding accounts from eth-tester's pre-funded accounts.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import TxParams

from chain.embedded.calls import estimate_within_block
from chain.errors import ContractRevert, TransactionRefused
from chain.ledger import BlockId, Web3Ledger
from chain.revert import decode_revert


class TesterLedger(Web3Ledger):
    name: ClassVar[str] = "tester"
    # One transaction per block, so replaying a failed one on its parent state is exact; and
    # the ether is play money. Tests then take the embedded ledger's path (no rehearsal).
    rehearse_writes: ClassVar[bool] = False

    def __init__(self, *, stock_gas_estimates: bool = False) -> None:
        """``stock_gas_estimates``: keep py-evm's own estimator, as eth-tester comes (the
        benchmark's naive baseline measures eth-tester as anyone would use it)."""
        backend = PyEVMBackend()
        if not stock_gas_estimates:
            # py-evm's estimator searches from the intrinsic gas, a dozen executions per
            # estimate: most of a contract test's time. The embedded node's takes two or
            # three (geth's search); on the chain's class too (eth-tester configures one per
            # backend), because eth-tester's revert makes a new chain.
            type(backend.chain).gas_estimator = staticmethod(estimate_within_block)
            backend.chain.gas_estimator = estimate_within_block
        self.tester = EthereumTester(backend)
        super().__init__(Web3(EthereumTesterProvider(self.tester)))
        self._faucet = self.tester.get_accounts()[0]
        # eth-tester mines on every send and is not thread-safe: two API requests of
        # different members sending at once corrupt its chain (BlockNotFound).
        self._send_lock = threading.Lock()

    def call(self, tx: TxParams, block: BlockId = "latest") -> bytes:
        # eth-tester turns custom-error data into text; on failure, take the bytes
        # from the estimate path, which raises py-evm's Revert with the raw data.
        try:
            return bytes.fromhex(
                self.tester.call(_tester_tx(tx, self._faucet), block).removeprefix("0x")
            )
        except TransactionFailed:
            raise self._revert_of(tx, block) from None

    def estimate_gas(self, tx: TxParams) -> int:
        try:
            return int(self.tester.estimate_gas(_tester_tx(tx, self._faucet)))
        except TransactionFailed:
            raise self._revert_of(tx, "latest") from None

    def _revert_of(self, tx: TxParams, block: BlockId) -> ContractRevert:
        try:
            self.tester.estimate_gas(_tester_tx(tx, self._faucet), block)
        except TransactionFailed as exc:
            cause = exc.args[0] if exc.args else None
            data = cause.args[0] if isinstance(cause, Exception) and cause.args else b""
            return decode_revert(data if isinstance(data, bytes) else b"")
        return decode_revert(b"")

    def send_raw_transaction(self, raw: bytes) -> bytes:
        # eth-tester raises a bare ValidationError for a wrong nonce; refuse such a
        # transaction the way JSON-RPC nodes do, so the transaction manager can resync.
        with self._send_lock:
            chain = self.tester.backend.chain
            tx = chain.get_vm().get_transaction_builder().decode(raw)
            expected = chain.get_vm().state.get_nonce(tx.sender)
            if tx.nonce != expected:
                kind = "too low" if tx.nonce < expected else "too high"
                raise TransactionRefused(f"nonce {kind}: got {tx.nonce}, next is {expected}")
            return super().send_raw_transaction(raw)

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def revert(self, snapshot_id: int) -> None:
        self.tester.revert_to_snapshot(snapshot_id)

    def increase_time(self, seconds: int) -> None:
        pending = int(self.tester.get_block_by_number("pending")["timestamp"])
        self.tester.time_travel(pending + seconds)
        self.tester.mine_blocks(1)

    def mine(self, blocks: int = 1) -> None:
        self.tester.mine_blocks(blocks)

    def fund(self, address: str, wei: int) -> None:
        self.tester.send_transaction(
            {
                "from": self._faucet,
                "to": Web3.to_checksum_address(address),
                "value": wei,
                "gas": 21000,
                "max_fee_per_gas": 10**11,
                "max_priority_fee_per_gas": 0,
            }
        )


def _tester_tx(tx: TxParams, default_from: str) -> dict[str, Any]:
    """web3-style call parameters in eth-tester's inbound format."""
    out: dict[str, Any] = {}
    for key in ("from", "to", "value", "gas"):
        if key in tx:
            out[key] = tx[key]
    data = tx.get("data", b"")
    out["data"] = data if isinstance(data, str) else "0x" + bytes(data).hex()
    # py-evm charges calls for gas like transactions: call from a funded account by default.
    out.setdefault("from", default_from)
    return out
