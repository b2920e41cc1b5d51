"""Signing accounts: eth-account holds the key, coincurve (through eth-keys) signs.

Every writer sends EIP-1559 transactions with explicit fields; those are built,
signed and encoded with py-evm's own EIP-1559 transaction class, the one the
embedded node decodes with. The bytes are exactly eth-account's (a test holds
the two to it), at about a third of the CPU: eth-account validates and
normalizes the dictionary twice and rebuilds the account from its key for every
signature. Any other transaction (legacy, access lists, hex-string fields) goes
through eth-account.
"""

from __future__ import annotations

from typing import Any

from eth.vm.forks.london.transactions import UnsignedDynamicFeeTransaction
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_typing import Address, ChecksumAddress
from eth_utils.address import is_checksum_address, to_canonical_address

_DYNAMIC_FEE_REQUIRED = frozenset(
    {"nonce", "chainId", "gas", "maxFeePerGas", "maxPriorityFeePerGas"}
)
_DYNAMIC_FEE_FIELDS = _DYNAMIC_FEE_REQUIRED | {"to", "data", "value"}
_INT_FIELDS = ("nonce", "chainId", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "value")


class Signer:
    """One signing account held in memory (keystores decide how keys get here)."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account
        self._private_key = PrivateKey(bytes(account.key))

    @classmethod
    def create(cls) -> Signer:
        return cls(Account.create())

    @classmethod
    def from_key(cls, private_key: bytes | str) -> Signer:
        return cls(Account.from_key(private_key))

    @property
    def address(self) -> ChecksumAddress:
        return self._account.address

    @property
    def key(self) -> bytes:
        return bytes(self._account.key)

    def sign_transaction(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """Sign ``tx``; return (raw transaction, transaction hash)."""
        unsigned = _dynamic_fee_transaction(tx)
        if unsigned is None:
            signed = self._account.sign_transaction(tx)
            return bytes(signed.raw_transaction), bytes(signed.hash)
        typed = unsigned.as_signed_transaction(self._private_key)
        return typed.encode(), bytes(typed.hash)

    def __repr__(self) -> str:
        return f"Signer({self.address})"


def _dynamic_fee_transaction(tx: dict[str, Any]) -> UnsignedDynamicFeeTransaction | None:
    """``tx`` as py-evm's unsigned EIP-1559 transaction, if it is one in the plain form
    (uint256 fields, bytes data, a checksummed ``to`` or none); otherwise None, and
    eth-account signs it or says what is wrong with it."""
    fields = tx.keys()
    if not (_DYNAMIC_FEE_REQUIRED <= fields <= _DYNAMIC_FEE_FIELDS):
        return None
    if not all(_uint256(tx.get(name, 0)) for name in _INT_FIELDS):
        return None
    data = tx.get("data", b"")
    to = tx.get("to")
    if type(data) is not bytes or not (to is None or _plain_address(to)):
        return None
    return UnsignedDynamicFeeTransaction(
        chain_id=tx["chainId"],
        nonce=tx["nonce"],
        max_priority_fee_per_gas=tx["maxPriorityFeePerGas"],
        max_fee_per_gas=tx["maxFeePerGas"],
        gas=tx["gas"],
        to=Address(b"") if to is None else to_canonical_address(to),
        value=tx.get("value", 0),
        data=data,
        access_list=(),
    )


def _uint256(value: object) -> bool:
    return type(value) is int and 0 <= value < 2**256


def _plain_address(value: object) -> bool:
    """A checksummed 0x-hex address, the only form eth-account takes (leave anything else
    to it, so that it says what is wrong)."""
    return isinstance(value, str) and is_checksum_address(value)
