"""Signing accounts: eth-account holds the key, coincurve signs.

Every writer sends EIP-1559 transactions with explicit fields; those are
RLP-encoded here (EIP-1559: ``0x02 || rlp([chainId, nonce, tip, maxFee, gas,
to, value, data, accessList])``) and their hash signed by coincurve directly,
with a key object made once per account. The bytes are exactly eth-account's
(a test holds the two to it), at about a sixth of the CPU: eth-account
validates and normalizes the dictionary twice, and eth-keys makes a new
coincurve key (two public-key derivations) for every signature. Any other
transaction (legacy, access lists, hex-string fields) goes through eth-account.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import rlp  # type: ignore[import-untyped]
from coincurve import PrivateKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import is_checksum_address, to_canonical_address
from eth_utils.crypto import keccak
from rlp.sedes import List, big_endian_int, binary  # type: ignore[import-untyped]

_DYNAMIC_FEE_REQUIRED = frozenset(
    {"nonce", "chainId", "gas", "maxFeePerGas", "maxPriorityFeePerGas"}
)
_DYNAMIC_FEE_FIELDS = _DYNAMIC_FEE_REQUIRED | {"to", "data", "value"}
_INT_FIELDS = ("nonce", "chainId", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "value")
DYNAMIC_FEE_TX_TYPE = b"\x02"
# The RLP shapes of an EIP-1559 transaction without an access list, unsigned and signed
# (given, rlp need not infer them field by field for every transaction).
_UNSIGNED = [big_endian_int] * 5 + [binary, big_endian_int, binary, List([])]
_UNSIGNED_SEDES = List(_UNSIGNED)
_SIGNED_SEDES = List([*_UNSIGNED, big_endian_int, big_endian_int, big_endian_int])


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

    @property
    def public_key(self) -> bytes:
        """The 64-byte public key (uncompressed secp256k1, without the 04 prefix), as
        NodeRegistry and enode URLs take it."""
        return bytes(self._private_key.public_key.format(compressed=False)[1:])

    def sign_transaction(self, tx: dict[str, Any]) -> tuple[bytes, bytes]:
        """Sign ``tx``; return (raw transaction, transaction hash)."""
        fields = _dynamic_fee_fields(tx)
        if fields is None:
            signed = self._account.sign_transaction(tx)
            return bytes(signed.raw_transaction), bytes(signed.hash)
        unsigned = DYNAMIC_FEE_TX_TYPE + rlp.encode(fields, sedes=_UNSIGNED_SEDES)
        # 65 bytes r || s || recovery id; libsecp256k1 gives the low s that EIP-2 requires
        signature = self._private_key.sign_recoverable(keccak(unsigned), hasher=None)
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        raw = DYNAMIC_FEE_TX_TYPE + rlp.encode([*fields, signature[64], r, s], sedes=_SIGNED_SEDES)
        return raw, keccak(raw)

    def __repr__(self) -> str:
        return f"Signer({self.address})"


def _dynamic_fee_fields(tx: dict[str, Any]) -> list[Any] | None:
    """The RLP fields of ``tx`` as an EIP-1559 transaction with no access list, if it is one
    in the plain form (uint256 fields, bytes data, a checksummed ``to`` or none); otherwise
    None, and eth-account signs it or says what is wrong with it."""
    fields = tx.keys()
    if not (_DYNAMIC_FEE_REQUIRED <= fields <= _DYNAMIC_FEE_FIELDS):
        return None
    if not all(_uint256(tx.get(name, 0)) for name in _INT_FIELDS):
        return None
    data = tx.get("data", b"")
    to = tx.get("to")
    target = b"" if to is None else _plain_address(to)
    if type(data) is not bytes or target is None:
        return None
    return [
        tx["chainId"],
        tx["nonce"],
        tx["maxPriorityFeePerGas"],
        tx["maxFeePerGas"],
        tx["gas"],
        target,
        tx.get("value", 0),
        data,
        [],  # access list
    ]


def _uint256(value: object) -> bool:
    return type(value) is int and 0 <= value < 2**256


def _plain_address(value: object) -> bytes | None:
    """The 20 bytes of a checksummed 0x-hex address, the only form eth-account takes (leave
    anything else to it, so that it says what is wrong); None for any other value."""
    return _checksummed_address(value) if type(value) is str else None


@lru_cache(maxsize=4096)
def _checksummed_address(value: str) -> bytes | None:
    # a writer sends to a few contracts: the checksum (a keccak) is checked once for each
    return bytes(to_canonical_address(value)) if is_checksum_address(value) else None
