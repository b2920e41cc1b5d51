"""The seam between the embedded node and a replicated ledger (consortium mode).

A single node's block is final when its store commit is durable. In a consortium a block
is final only once the consortium's log has committed it (``chain.consortium.minter``):
the node then hands each block it built to a ``Finality`` before committing it, and
imports the blocks other nodes minted (``EmbeddedNode.import_block``). ``NodeConfig``'s
``finality`` is None by default: the single node does none of this.
"""

from __future__ import annotations

from typing import Protocol

from eth.abc import BlockAPI, ChainAPI

# Beside the chain in the node's store: a block's seal (the minter's signature over its
# hash), kept so that the node can serve it to a peer catching up.
SEAL_KEY_PREFIX = b"scf:seal:"


def seal_key(block_hash: bytes) -> bytes:
    return SEAL_KEY_PREFIX + bytes(block_hash)


class BlockRefused(Exception):
    """The block built will never be final: throw it away, requeue its transactions."""


class Finality(Protocol):
    @property
    def coinbase(self) -> bytes:
        """The address this node's blocks name as their sealer (the header's coinbase)."""
        ...

    def can_mint(self) -> bool:
        """Whether the node may build blocks now (it believes it is the minter)."""
        ...

    def finalize(self, block: BlockAPI, chain: ChainAPI) -> bytes:
        """Make ``block`` final; its seal, to keep beside it. ``BlockRefused``: it is not.
        ``chain``: the node's writer chain, which holds the state of ``block``'s parent."""
        ...


class FollowOnly:
    """The ``Finality`` of a node that never mints (a learner): it builds no block, so what
    it is sent waits in its queue for the log's blocks (a single node's default, no
    finality at all, would build blocks of its own outside the log and halt on the next
    block it imports)."""

    coinbase = b"\0" * 20

    def can_mint(self) -> bool:
        return False

    def finalize(self, block: BlockAPI, chain: ChainAPI) -> bytes:
        raise BlockRefused("this node follows the log and mints nothing")
