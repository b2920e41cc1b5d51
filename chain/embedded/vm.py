"""The consortium's EVM: Prague with two rules a permissioned, fee-free ledger needs.

- No fees (members never buy ether). Gas still meters and bounds every
  transaction, but its price is zero whatever the fee fields offer: nothing is
  deducted from the sender, nothing goes to the coinbase, and a sender needs a
  balance only for the value it sends. So Foundry's ``cast send`` with its
  default fees (max fee 1 wei, tip 1 wei) works for an account without ether,
  like on a Quorum gas-free network. The fee fields stay valid Ethereum fields
  (a max fee below the base fee is still invalid), and the base fee is 0 in every
  block: EIP-1559's rule would raise it after any block that uses more than half
  the gas limit (from 0 to 1 at once, and a base fee of 1 never falls back), and a
  client offering a max fee of 0 would then be refused for good.
- Blocks within one second may share a timestamp (see ``ScfPragueVM``).

And a speed-up that changes no result: which code positions are valid jump destinations
is a property of the code alone, so the analysis is kept per code (py-evm redoes it for
every call frame, several per transaction).

``verify`` re-executes blocks with these same classes, so the rules are part of
the ledger's state transition, not of the node's admission policy only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from eth.abc import (
    BlockHeaderAPI,
    MessageAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.chains.base import MiningChain
from eth.validation import validate_gas_limit
from eth.vm.code_stream import CodeStream
from eth.vm.computation import BaseComputation
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.london.validation import validate_london_normalized_transaction
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth_typing import BlockNumber
from eth_utils.exceptions import ValidationError

BLOCK_GAS_LIMIT = 1_000_000_000
BASE_FEE = 0  # of every block, genesis included (``ScfPragueVM``)


@lru_cache(maxsize=512)
def _jump_analysis(code: bytes) -> tuple[set[int], set[int]]:
    """The (valid, invalid) jump-destination positions of ``code`` found so far, shared by
    every execution of that code (they only ever grow, and never differ between runs)."""
    return set(), set()


class SharedJumpAnalysis(BaseComputation):
    """A computation whose code's jump analysis is shared by every execution of that code
    (to put before any fork's computation class)."""

    def __init__(
        self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI
    ) -> None:
        super().__init__(state, message, transaction_context)
        code = cast(CodeStream, self.code)
        code.valid_positions, code.invalid_positions = _jump_analysis(message.code)


class ScfPragueComputation(SharedJumpAnalysis, PragueComputation):
    pass


class ScfPragueState(PragueState):
    """Prague state in which gas costs nothing."""

    computation_class = ScfPragueComputation

    def get_gas_price(self, transaction: SignedTransactionAPI) -> int:
        return 0

    def get_tip(self, transaction: SignedTransactionAPI) -> int:
        return 0

    def get_transaction_context(self, transaction: SignedTransactionAPI) -> TransactionContextAPI:
        """At gas price 0 too: py-evm refunds unused gas at the context's price, though it
        bought the gas at ``get_gas_price`` (0), so a sender offering a tip was paid for
        the gas it did not use. GASPRICE reads 0, which is what gas costs here. (Blob and
        set-code transactions, whose context carries more, are refused.)"""
        return self.get_transaction_context_class()(gas_price=0, origin=transaction.sender)

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        if transaction.type_id == BLOB_TX_TYPE:
            raise ValidationError("blob transactions are not accepted on this ledger")
        # London's checks at gas price 0: max fee >= base fee, balance >= value, nonce.
        # (Cancun's extra "balance >= gas x max fee" check is what charges for offered fees.)
        validate_london_normalized_transaction(self, transaction)


class ScfPragueVM(PragueVM):
    """Prague, fee-free, and a block may share its parent's second.

    Ethereum demands strictly increasing timestamps; at several blocks a second
    that would push block time ahead of the clock. Like Arbitrum, this ledger
    lets blocks within one second share a timestamp: time never goes backwards
    and never runs ahead of UTC.
    """

    _state_class = ScfPragueState

    @classmethod
    def create_header_from_parent(  # type: ignore[override]  # py-evm's is a staticmethod
        cls, parent_header: BlockHeaderAPI | None, **header_params: Any
    ) -> BlockHeaderAPI:
        """Prague's next header, at base fee ``BASE_FEE`` whatever the parent used."""
        if parent_header is not None:
            header_params.pop("base_fee_per_gas", None)  # Prague takes London's value only
        header = PragueVM.create_header_from_parent(parent_header, **header_params)
        return cast(BlockHeaderAPI, header.copy(base_fee_per_gas=BASE_FEE))

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        """London's gas limit rule; the base fee is ``BASE_FEE``, not London's."""
        validate_gas_limit(header.gas_limit, parent_header.gas_limit)
        if header.base_fee_per_gas != BASE_FEE:
            raise ValidationError(
                f"Header has invalid base fee per gas (has {header.base_fee_per_gas}"
                f", expected {BASE_FEE})"
            )

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if parent_header is not None and header.timestamp == parent_header.timestamp:
            parent_header = parent_header.copy(timestamp=parent_header.timestamp - 1)
        super().validate_header(header, parent_header)


class ScfMiningChain(MiningChain):
    vm_configuration = ((BlockNumber(0), ScfPragueVM),)
    chain_id = 8_888

    def create_header_from_parent(
        self, parent_header: BlockHeaderAPI, **params: Any
    ) -> BlockHeaderAPI:
        params["gas_limit"] = parent_header.gas_limit  # a consortium keeps its block gas limit
        return super().create_header_from_parent(parent_header, **params)


def upfront_cost(transaction: SignedTransactionAPI) -> int:
    """What a sender's balance must cover for ``transaction`` on this ledger: its value."""
    return int(transaction.value)
