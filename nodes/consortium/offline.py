"""A consortium home opened by a command while its node is stopped: reads only.

Blocks of a consortium are made through etcd by the minter (``nodes.consortium.stack``).
A command that opens a stopped home's ledger in its own process (``nodes.connect``)
must never seal a block there: that block would exist on this node only, and the node
would halt on the network's block at that height. So such a ledger never mints, and
refuses every transaction with a message that says to start the node.
"""

from __future__ import annotations

from eth.abc import BlockAPI, ChainAPI

from chain.embedded.finality import BlockRefused, FollowOnly
from chain.embedded.rules import TransactionRejected

STOPPED = (
    "this consortium node is stopped: its ledger takes transactions only while "
    "`scf-node start` runs it (blocks are made through etcd by the minter)"
)


class NeverMints(FollowOnly):
    """The ``Finality`` of a stopped consortium home: no block is ever built."""

    def finalize(self, block: BlockAPI, chain: ChainAPI) -> bytes:
        raise BlockRefused(STOPPED)


def refuse_transactions(sender: bytes) -> None:
    raise TransactionRejected(STOPPED)
