"""What the embedded node lets into its queue: the checks on a transaction itself.

``EmbeddedNode.submit`` decodes a raw transaction, checks it here, then recovers its
sender, asks the admission policy (``chain.embedded.permissions``) and checks its nonce
and balance. A refusal is a ``TransactionRejected`` whose message says what to change;
JSON-RPC answers it as an error object of ``eth_sendRawTransaction``, and nothing of the
transaction reaches a block. Every check is a handful of comparisons.

- Types: legacy (signed for this chain, EIP-155), access-list (EIP-2930) and dynamic-fee
  (EIP-1559) transactions. Not blob transactions (EIP-4844: this ledger has no blobs) nor
  set-code transactions (EIP-7702: accounts of members stay plain accounts); the node
  could neither execute those as this ledger means to nor serve them back. Not a legacy
  transaction without a chain id: its signature is valid on every chain.
- Gas: at most ``max_gas``, the node's per-transaction cap (``max_transaction_gas`` in
  the home's ``node.json``), far below the block's gas limit; a block is built in one
  pass, so one transaction of the block's size would hold every other member's
  transaction back for as long as it runs. At least the intrinsic gas.
- Initcode (the data of a contract creation) of at most EIP-3860's 49 152 bytes: py-evm
  would mine a longer one as a failed transaction that used all its gas.
- A max fee (or gas price) at least the next block's base fee, which is
  ``chain.embedded.vm.BASE_FEE`` in every block: the fee is checked against the block
  the transaction goes into, not against the head.

These are the node's admission rules, not rules of the ledger's state transition:
``verify`` re-executes a stored block whatever cap the node that built it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from eth.abc import SignedTransactionAPI
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.prague.constants import SET_CODE_TRANSACTION_TYPE

from chain.embedded.vm import BASE_FEE, BLOCK_GAS_LIMIT

# Half EIP-7825's cap (2**24): still above what the largest contract deployment can
# need (EIP-170's 24 576 bytes of code cost about 5.4M gas), while a loop that burns all
# of it holds the block producer half as long, so writes queued behind it keep well
# inside the transaction manager's receipt timeout even on a loaded machine.
DEFAULT_MAX_TRANSACTION_GAS = 8_388_608
MIN_TRANSACTION_GAS = 21_000  # a plain transfer's intrinsic gas: no smaller cap makes sense
MAX_INITCODE_SIZE = 49_152  # EIP-3860: twice EIP-170's 24 576-byte code size limit

_REFUSED_TYPES = {
    BLOB_TX_TYPE: "blob transactions (type 3, EIP-4844) are not accepted on this ledger",
    SET_CODE_TRANSACTION_TYPE: (
        "set-code transactions (type 4, EIP-7702) are not accepted on this ledger"
    ),
}


class Standing(Enum):
    """What a refusal rests on, so a node that forwarded the transaction (consortium mode)
    can tell a refusal for good from one that a later head may lift."""

    INVALID = "invalid"  # the transaction itself: no state of the chain makes it valid
    STATE = "state"  # the state at the refusing node's head (funds, membership, a retired contract)
    ORDER = "order"  # its nonce does not fit the refusing node's head and queue now
    NODE = "node"  # the refusing node takes nothing (it has halted)


class TransactionRejected(Exception):
    """The node refuses a transaction before it reaches a block (JSON-RPC error -32000/-32003)."""

    def __init__(
        self, message: str, code: int = -32000, standing: Standing = Standing.INVALID
    ) -> None:
        super().__init__(message)
        self.code = code
        self.standing = standing


def check_max_transaction_gas(value: object) -> int:
    """``value`` as a per-transaction gas cap; raises ``ValueError`` naming the valid range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_TRANSACTION_GAS <= value <= BLOCK_GAS_LIMIT
    ):
        raise ValueError(
            f"the transaction gas cap must be a whole number from {MIN_TRANSACTION_GAS} "
            f"to the block gas limit {BLOCK_GAS_LIMIT}, not {value!r}"
        )
    return value


@dataclass(frozen=True)
class TransactionRules:
    """The checks on a decoded transaction for a node of chain ``chain_id``."""

    chain_id: int
    max_gas: int = DEFAULT_MAX_TRANSACTION_GAS

    def __post_init__(self) -> None:
        check_max_transaction_gas(self.max_gas)

    def check(self, tx: SignedTransactionAPI) -> None:
        """Raise ``TransactionRejected`` if this node does not take ``tx``."""
        type_id = tx.type_id
        if type_id is not None and type_id in _REFUSED_TYPES:
            raise TransactionRejected(_REFUSED_TYPES[type_id])
        chain_id = tx.chain_id
        if chain_id is None:
            raise TransactionRejected(
                "unprotected transaction: a transaction without a chain id is valid on every "
                f"chain; sign it for chain {self.chain_id} (EIP-155)"
            )
        if chain_id != self.chain_id:
            raise TransactionRejected(
                f"transaction is for chain {chain_id}, this ledger is chain {self.chain_id}"
            )
        if tx.gas > self.max_gas:
            raise TransactionRejected(
                f"gas {tx.gas} exceeds this node's per-transaction gas cap {self.max_gas}"
            )
        if not tx.to and len(tx.data) > MAX_INITCODE_SIZE:
            raise TransactionRejected(
                f"initcode of {len(tx.data)} bytes exceeds the EIP-3860 limit of "
                f"{MAX_INITCODE_SIZE} bytes"
            )
        if tx.intrinsic_gas > tx.gas:
            raise TransactionRejected(
                f"intrinsic gas too low: needs {tx.intrinsic_gas}, has {tx.gas}"
            )
        if tx.max_fee_per_gas < BASE_FEE:  # a legacy or access-list one's gas price
            raise TransactionRejected(
                f"max fee per gas {tx.max_fee_per_gas} is below the next block's base fee "
                f"{BASE_FEE}"
            )
