"""Signing accounts. eth-account signs; coincurve (installed) makes it fast."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress


class Signer:
    """One signing account held in memory (keystores decide how keys get here)."""

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

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
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction), bytes(signed.hash)

    def __repr__(self) -> str:
        return f"Signer({self.address})"
