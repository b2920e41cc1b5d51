"""Who signed a transaction: the sender the node checks and the block producer executes as.

py-evm's ``tx.sender`` recovers it through eth-keys, which wraps the signature and the key
in validated objects on the way, at more than the cost of the recovery itself.
``recover_sender`` does what it does for typed transactions (the EIP-2718 ones every
writer sends): the same checks on the signature values, the recovery with coincurve (the
libsecp256k1 binding eth-keys uses) from py-evm's own signing message, and it leaves the
result where py-evm caches ``tx.sender``, so that the block producer does not recover it
again. A test holds it to py-evm's answer, valid signatures and broken ones.
"""

from __future__ import annotations

from coincurve import PublicKey
from eth.abc import SignedTransactionAPI
from eth_keys.constants import SECPK1_N
from eth_typing import Address
from eth_utils.crypto import keccak


class InvalidSignature(ValueError):
    """The signature values of a transaction are out of range or recover no key."""


def recover_sender(tx: SignedTransactionAPI) -> bytes:
    """The address that signed ``tx``; raises ``InvalidSignature`` (or, for a legacy
    transaction, py-evm's own error) when it cannot be recovered."""
    if tx.type_id is None:  # legacy: v carries the chain id; py-evm's way
        return bytes(tx.sender)
    y_parity, r, s = tx.y_parity, tx.r, tx.s
    # eth-keys' range checks on (v, r, s); libsecp256k1 then refuses r or s of zero
    if y_parity not in (0, 1) or not (0 <= r < SECPK1_N and 0 <= s < SECPK1_N):
        raise InvalidSignature(f"signature values out of range: y parity {y_parity}")
    message_hash = keccak(tx.get_message_for_signing())
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    try:
        public_key = PublicKey.from_signature_and_message(signature, message_hash, hasher=None)
    except Exception as exc:  # coincurve says what libsecp256k1 refused
        raise InvalidSignature(f"no public key recovers from the signature: {exc}") from None
    sender = Address(keccak(public_key.format(compressed=False)[1:])[-20:])
    vars(tx)["sender"] = sender  # py-evm's ``sender`` is a cached_property kept right here
    return bytes(sender)
