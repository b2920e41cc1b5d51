"""The minter's side of finality: a block is final once the fenced append to etcd commits.

``EtcdFinality`` is the ``Finality`` hook an embedded node in consortium mode is given
(``NodeConfig.finality``). The producer builds a block as a single node does, with this
node's address as coinbase; ``finalize`` checks that this node is still on the
allow-list at the block's parent (verifiers would refuse the block otherwise), seals it
(``chain.consortium.seal``) and appends it to the block log with the lease of the
election this node holds. Only when etcd has
committed it does the node commit it to its store and publish it.

A rejected append (``head_moved``, ``not_leader``) means the block will never be final:
``BlockRefused``, and the node throws it away and queues its transactions again. An
answer that does not come (etcd unavailable past ``retry_for``) leaves the outcome open:
the block may have committed. The minter steps down all the same; if the block did
commit, this node imports it from the log like any other (``chain.consortium.replica``).
Either way this node stops minting (``deposed`` is set) until it wins the election again.
"""

from __future__ import annotations

import logging
import threading
import time

from eth.abc import BlockAPI, ChainAPI

from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import AppendRejected, BlockLog
from chain.consortium.election import Leadership
from chain.consortium.etcd import EtcdError
from chain.consortium.seal import NodeKey, encode_entry, node_id
from chain.embedded.finality import BlockRefused

log = logging.getLogger(__name__)

DEFAULT_RETRY_FOR = 5.0  # seconds an append whose answer was lost is sent again
_RETRY_DELAY = 0.1


class EtcdFinality:
    """Seal blocks with ``key`` and make them final in ``block_log`` while minting."""

    def __init__(
        self,
        block_log: BlockLog,
        key: NodeKey,
        allow_list: AllowList,
        *,
        retry_for: float = DEFAULT_RETRY_FOR,
    ) -> None:
        self.block_log = block_log
        self.key = key
        self.allow_list = allow_list
        self.retry_for = retry_for
        self.deposed = threading.Event()  # set when an append shows this node is not minter
        self._leadership: Leadership | None = None

    @property
    def coinbase(self) -> bytes:
        return self.key.address

    @property
    def leadership(self) -> Leadership | None:
        return self._leadership

    def lead(self, leadership: Leadership) -> None:
        """Mint from now on, fenced by ``leadership``'s lease."""
        self.deposed.clear()
        self._leadership = leadership

    def step_down(self) -> None:
        self._leadership = None

    def can_mint(self) -> bool:
        # The belief only: a lease may have expired unnoticed. ``append`` fences it.
        return self._leadership is not None

    def finalize(self, block: BlockAPI, chain: ChainAPI) -> bytes:
        leadership = self._leadership
        if leadership is None:
            raise BlockRefused("this node is not the minter")
        # Verifiers refuse a block whose sealer was not allowed at its parent, and every
        # one of them would halt on it: a node the committee removed stops minting here.
        parent = chain.get_block_header_by_hash(block.header.parent_hash)
        if not self.allow_list.allows(chain, node_id(self.key.public_key), parent):
            reason = f"this node is not on the allow-list at block {parent.block_number}"
            self._depose(leadership, reason)
            raise BlockRefused(reason)
        seal = self.key.seal(block.hash)
        entry = encode_entry(block, seal)
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                self.block_log.append(
                    int(block.number),
                    bytes(block.header.parent_hash),
                    entry,
                    block_hash=bytes(block.hash),
                    lease=leadership.lease,
                )
                return seal
            except AppendRejected as exc:
                self._depose(leadership, f"{exc.reason.value}: {exc.message}")
                raise BlockRefused(exc.message) from None
            except EtcdError as exc:  # the same block again: ``append`` is idempotent
                if time.monotonic() >= deadline:
                    reason = f"no answer from etcd for block {block.number}: {exc.message}"
                    self._depose(leadership, reason)
                    raise BlockRefused(reason) from None
                time.sleep(_RETRY_DELAY)

    def _depose(self, leadership: Leadership, reason: str) -> None:
        log.warning("stopped minting: %s", reason)
        if self._leadership is leadership:
            self._leadership = None
        self.deposed.set()
