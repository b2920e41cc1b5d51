"""Whether this consortium node takes members' transactions.

A transaction reaches a block only through the minter, which takes forwards only from
nodes the NodeRegistry allows (``nodes.consortium.forward``). A learner, or a validator
not on the allow-list yet (joined, not yet voted in), would admit a transaction no minter
ever takes: its forwarder would send it every second, refused each time, and the member's
write would wait for its receipt timeout. Such a node refuses ``eth_sendRawTransaction``
at once instead (``NODE_CANNOT_SUBMIT``), saying where to send it.

The allow-list is read at the node's head on every call: a vote can add the node at any
block, and once the node has imported that block it takes transactions, without a
restart. The answer is kept for the head it was read at, since only a block changes it
(two registry calls per transaction would cost a verifier's every write).

A vote can also remove a validator: from the block that does, the node refuses new
transactions the same way, saying it was removed. What it had queued before cannot reach
a block through it any more: the minter refuses its forwards and says which of them it
holds already, and the node drops the others for good (``nodes.consortium.forward``), so
their writes fail at once instead of waiting for their receipt timeout.
"""

from __future__ import annotations

from eth.abc import BlockHeaderAPI

from chain.consortium.allow_list import AllowList
from chain.consortium.allow_list import Standing as NodeStanding
from chain.embedded.node import EmbeddedNode

LEARNER_REFUSAL = (
    "this node is a learner: it takes no transactions; send them through a validator's node"
)


class SubmitGate:
    def __init__(
        self, node: EmbeddedNode, allow_list: AllowList, own_id: bytes, *, learner: bool
    ) -> None:
        self.node = node
        self.allow_list = allow_list
        self.own_id = bytes(own_id)
        self.learner = learner
        self._judged: tuple[bytes, str | None] | None = None  # (head hash, refusal there)

    def refusal(self) -> str | None:
        """Why this node takes no transaction now, or None when it takes them. A halted
        node's own refusal says more (it serves nothing past its last good block): None."""
        if self.node.halted is not None:
            return None
        if self.learner:
            return LEARNER_REFUSAL
        head = self.node.head
        judged = self._judged  # one read: another request's thread may replace it
        if judged is not None and judged[0] == bytes(head.hash):
            return judged[1]
        refusal = self._refusal_at(head)
        self._judged = (bytes(head.hash), refusal)
        return refusal

    def _refusal_at(self, head: BlockHeaderAPI) -> str | None:
        reader, own = self.node.reader, self.own_id
        standing = self.allow_list.standing(reader, own, head)
        if standing is NodeStanding.ALLOWED:
            return None
        if standing is NodeStanding.REMOVED:
            return (
                f"this node (0x{own.hex()}) was removed from the NodeRegistry allow-list by "
                "a committee vote: it takes no transactions, and what it had queued that "
                "the minter does not hold is dropped; send them through a validator's node "
                "(a vote can add it again: scf-node node propose-add)"
            )
        return (
            f"this node (0x{own.hex()}) is not on the NodeRegistry allow-list yet: "
            "it takes no transactions until a committee vote adds it (scf-node node "
            "propose-add); send them through a validator's node meanwhile"
        )
