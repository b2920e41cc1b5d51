"""Who may use a node's peer endpoint: a node the chain has not removed.

The handshake (``chain.consortium.tls``) lets in any certificate of the consortium CA;
each request is then held to two rules, in this order:

1. the certificate names a node (``tls.node_of``): an etcd member's certificate, which
   the same CA signs, names none and is refused (``peer_not_a_node``);
2. the NodeRegistry at this node's head has not removed that node: a node the committee
   took off the list is refused from its next request on (``peer_node_removed``), not
   when its certificate expires. Revoking a node's certificate is removing the node.

A node the registry never listed is served, as before: a learner (learners are not on
the NodeRegistry, ADR 12) and a joining node that syncs from history before its vote
(ADR 21) hold certificates the founding operator issued and may read the chain. Only an
allowed node can post documents: the document endpoint checks the allow-list on every
envelope (``api.services.document_exchange.Receiver``).

The registry's answer comes from the node's ``AllowList``, kept per state of the
registry's account: a request costs one trie lookup while the registry does not change.
"""

from __future__ import annotations

from chain.consortium.allow_list import AllowList, Standing
from chain.consortium.tls import node_of
from chain.embedded.http import Refusal
from chain.embedded.node import EmbeddedNode

NOT_A_NODE = "peer_not_a_node"
NODE_REMOVED = "peer_node_removed"


def node_refusal(certificate_der: bytes | None) -> tuple[bytes | None, Refusal | None]:
    """The node a client certificate names, or why it names none."""
    node = node_of(certificate_der) if certificate_der else None
    if node is None:
        return None, Refusal(
            NOT_A_NODE,
            "the client certificate names no node of this consortium (an etcd member's, "
            "or one issued before certificates named their node): present the node's "
            "certificate from scf-node node certify",
        )
    return node, None


class PeerAccess:
    """``authorize`` for the peer endpoint of ``node`` (``chain.embedded.http``)."""

    def __init__(self, node: EmbeddedNode, allow_list: AllowList) -> None:
        self.node = node
        self.allow_list = allow_list

    def __call__(self, certificate_der: bytes | None) -> Refusal | None:
        node, refusal = node_refusal(certificate_der)
        if node is None:
            return refusal
        if self.allow_list.standing(self.node.reader, node, self.node.head) is Standing.REMOVED:
            return Refusal(
                NODE_REMOVED,
                f"node 0x{node.hex()} was removed from the NodeRegistry by a committee vote: "
                "its certificate opens no peer endpoint any more",
            )
        return None
