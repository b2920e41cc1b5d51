"""A block's seal: the minter's signature over the block hash, kept beside the block.

The log entry of block n is ``rlp([block RLP, seal])``: the seal is 65 bytes (r, s,
recovery id) signed with the minter's node key (secp256k1) over the block's hash, and the
header's coinbase is the minter's node address, so the hash the seal signs names the
sealer too. Nothing of the seal is inside the header: py-evm refuses an ``extra_data``
over 32 bytes, and a Clique-style 97-byte seal there would need a VM override of header
validation (docs/decisions/0018-block-seal-beside-the-block.md).

A seal proves who sealed the block; whether that node was allowed to, at the block's
parent, is ``chain.consortium.allow_list``'s question.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp  # type: ignore[import-untyped]
from coincurve import PrivateKey, PublicKey
from eth.abc import BlockAPI
from eth_utils.crypto import keccak

from chain.embedded.vm import ScfPragueVM
from chain.errors import LedgerError

SEAL_BYTES = 65


class BadSeal(LedgerError):
    """A log entry that is not a sealed block, or whose seal does not name its sealer."""

    code = "bad_seal"


@dataclass(frozen=True)
class SealedEntry:
    """A block as the log holds it, with who sealed it."""

    block: BlockAPI
    seal: bytes
    public_key: bytes  # the sealer's 64-byte public key (uncompressed, no 04 prefix)

    @property
    def node_id(self) -> bytes:
        """The sealer's NodeRegistry id: keccak256 of its public key."""
        return node_id(self.public_key)


def node_id(public_key: bytes) -> bytes:
    return bytes(keccak(public_key))


def recover_public_key(signature: bytes, digest: bytes) -> bytes | None:
    """The 64-byte public key (uncompressed, no 04 prefix) that signed ``digest`` with the
    recoverable ``signature`` (``NodeKey.seal``); None when libsecp256k1 refuses it."""
    try:
        recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception:  # any malformed signature is refused the same way
        return None
    return bytes(recovered.format(compressed=False)[1:])


def node_address(public_key: bytes) -> bytes:
    """The address of a node key, as a block's coinbase names it."""
    return bytes(keccak(public_key)[-20:])


class NodeKey:
    """A node's signing key."""

    def __init__(self, private_key: bytes) -> None:
        self._key = PrivateKey(private_key)
        self.public_key = bytes(self._key.public_key.format(compressed=False)[1:])
        self.address = node_address(self.public_key)

    def seal(self, block_hash: bytes) -> bytes:
        return bytes(self._key.sign_recoverable(bytes(block_hash), hasher=None))


def encode_entry(block: BlockAPI, seal: bytes) -> bytes:
    return bytes(rlp.encode([rlp.encode(block), seal]))


def decode_entry(data: bytes) -> SealedEntry:
    """The block and its sealer; ``BadSeal`` when the bytes are no sealed block or the seal
    was not made by the node its coinbase names."""
    try:
        block_rlp, seal = rlp.decode(data)
        block = rlp.decode(block_rlp, sedes=ScfPragueVM.get_block_class())
    except Exception as exc:  # any malformed entry is refused the same way
        raise BadSeal(f"not a sealed block: {exc!r}"[:300]) from None
    if not isinstance(seal, bytes) or len(seal) != SEAL_BYTES:
        raise BadSeal(f"block {block.number}: a seal is {SEAL_BYTES} bytes")
    try:
        recovered = PublicKey.from_signature_and_message(seal, bytes(block.hash), hasher=None)
    except Exception as exc:  # libsecp256k1 refused the signature
        raise BadSeal(f"block {block.number}: the seal recovers no key: {exc}") from None
    public_key = bytes(recovered.format(compressed=False)[1:])
    if node_address(public_key) != bytes(block.header.coinbase):
        raise BadSeal(
            f"block {block.number}: sealed by 0x{node_address(public_key).hex()}, "
            f"its coinbase names 0x{bytes(block.header.coinbase).hex()}"
        )
    return SealedEntry(block, seal, public_key)
