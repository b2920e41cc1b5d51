"""The minter keeps etcd's window of blocks bounded (``BlockLog.retain``).

Every ``every`` blocks the minter deletes the block keys below the last ``keep`` and
compacts etcd's history before that deletion, so that etcd holds between ``keep`` and
``keep + every - 1`` blocks, however long the chain. A node further behind catches up
from its peers (``chain.consortium.catch_up``).

``DEFAULT_RETAIN_BLOCKS``: a block in the log is at most 1 MiB (``block_log``), so 1,000
of them stay under half of etcd's default 2 GiB backend quota even at that size; the
usual block is a few kilobytes. A verifier that is down for 1,000 blocks or fewer
catches up from etcd alone.
"""

from __future__ import annotations

import logging

from chain.consortium.block_log import BlockLog
from chain.consortium.etcd import EtcdError

log = logging.getLogger(__name__)

DEFAULT_RETAIN_BLOCKS = 1000


class Retention:
    def __init__(
        self, block_log: BlockLog, keep: int = DEFAULT_RETAIN_BLOCKS, every: int | None = None
    ) -> None:
        """``every`` defaults to a tenth of ``keep``: one deletion and one compaction per
        that many blocks."""
        if keep < 1:
            raise ValueError(f"etcd keeps at least one block, not {keep}")
        self.block_log = block_log
        self.keep = keep
        self.every = every if every is not None else max(1, keep // 10)
        if self.every < 1:
            raise ValueError(f"retain every block or more, not every {self.every}")
        self._retained_at = 0  # the head's height at the last retention

    def after(self, height: int) -> None:
        """The minter committed block ``height``: retain when ``every`` blocks have
        passed since the last time. etcd trouble leaves it for the next block."""
        if height - self._retained_at < self.every:
            return
        try:
            self.block_log.retain(self.keep)
        except EtcdError as exc:
            log.warning("could not trim etcd's window of blocks: %s", exc.message)
            return
        self._retained_at = height
