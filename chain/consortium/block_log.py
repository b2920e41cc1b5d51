"""The chain's committed blocks in etcd: the order every node of the consortium follows.

A block is final once ``append`` returns: etcd answers a transaction only after a Raft
majority of its members holds it. The transaction's compare holds two things at once:

- the head is still the parent (height - 1 and its hash): two appends of the same height
  cannot both commit, and nothing is appended on a block that is not the head;
- the ``minter`` key exists with the appender's lease: a minter whose lease expired (it
  hung, or lost etcd's majority) is fenced off even before it notices.

``append`` is idempotent: when an earlier attempt's answer was lost (``EtcdUnavailable``
with ``sent``) and that attempt did commit, sending the same block again returns it as
committed instead of rejecting it. So a minter retries the same block until it gets an
answer, and throws a block away only on ``AppendRejected``.

Blocks are opaque bytes here; ``block_hash`` is what the next block names as its parent.
etcd keeps a bounded window of them (``retain``); older heights are read from peers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from chain.consortium.etcd import (
    EtcdClient,
    EtcdCompacted,
    EtcdUnavailable,
    EventType,
    KeyValue,
    compare_lease,
    compare_value,
    compare_version,
    delete_op,
    put_op,
    range_op,
)
from chain.consortium.keys import ChainKeys
from chain.errors import LedgerError

log = logging.getLogger(__name__)

HASH_BYTES = 32
# etcd refuses requests over --max-request-bytes (1.5 MiB by default); leave room for the
# head and the transaction around the block
DEFAULT_MAX_BLOCK_BYTES = 1024 * 1024
FOLLOW_PAGE = 64  # blocks per range request while catching up
_RETRY_DELAY = 0.2  # seconds before following again after etcd trouble


class BlockLogError(LedgerError):
    code = "block_log_error"


class RejectReason(StrEnum):
    NOT_INITIALIZED = "not_initialized"  # no genesis in etcd yet
    NOT_LEADER = "not_leader"  # the minter key is gone or held with another lease
    HEAD_MOVED = "head_moved"  # the head is no longer the block's parent


class AppendRejected(BlockLogError):
    """etcd did not commit the block: throw it away (its transactions go back to the
    queue)."""

    code = "append_rejected"

    def __init__(self, reason: RejectReason, message: str, head: Head | None) -> None:
        super().__init__(message, details={"reason": reason.value})
        self.reason = reason
        self.head = head


class BlockPruned(BlockLogError):
    """The height is older than etcd's window: fetch it from a peer."""

    code = "block_pruned"

    def __init__(self, height: int, oldest: int) -> None:
        super().__init__(
            f"block {height} is no longer in etcd (it keeps heights from {oldest}): "
            "fetch it from a peer",
            details={"height": height, "oldest": oldest},
        )
        self.height = height
        self.oldest = oldest


class BlockNotCommitted(BlockLogError):
    code = "block_not_committed"


class BlockTooLarge(BlockLogError):
    code = "block_too_large"


class LogMismatch(BlockLogError):
    """etcd holds another chain under this chain id."""

    code = "block_log_mismatch"


@dataclass(frozen=True)
class Head:
    height: int
    hash: bytes
    revision: int  # etcd revision of the write that made it the head

    def encode(self) -> bytes:
        return encode_head(self.height, self.hash)


@dataclass(frozen=True)
class CommittedBlock:
    height: int
    data: bytes
    revision: int  # etcd revision of its append


def _hash(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_BYTES:
        raise ValueError(f"{what} must be {HASH_BYTES} bytes")
    return value


def encode_head(height: int, block_hash: bytes) -> bytes:
    return f"{height}:{_hash(block_hash, 'a block hash').hex()}".encode()


def decode_head(kv: KeyValue) -> Head:
    height, _, hex_hash = kv.value.decode().partition(":")
    return Head(int(height), bytes.fromhex(hex_hash), kv.mod_revision)


class BlockLog:
    """The committed blocks of chain ``keys`` in etcd."""

    def __init__(
        self,
        client: EtcdClient,
        keys: ChainKeys,
        *,
        max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
    ) -> None:
        self.client = client
        self.keys = keys
        self.max_block_bytes = max_block_bytes

    def initialize(self, genesis_hash: bytes) -> Head:
        """Start the log at the genesis (height 0), or check that it started there."""
        keys = self.keys
        genesis = _hash(genesis_hash, "the genesis hash")
        result = self.client.txn(
            [compare_version(keys.genesis, 0)],
            [put_op(keys.genesis, genesis), put_op(keys.head, encode_head(0, genesis))],
            [range_op(keys.genesis)],
        )
        if not result.succeeded:
            existing = result.range_kvs(0)[0].value
            if existing != genesis:
                raise LogMismatch(
                    f"etcd holds chain {keys.chain_id} with genesis 0x{existing.hex()}, "
                    f"not 0x{genesis.hex()}",
                    details={"chain_id": keys.chain_id},
                )
        head = self.head()
        assert head is not None  # written above or before
        return head

    def head(self) -> Head | None:
        """The last committed block (linearizable), or None before ``initialize``."""
        kv = self.client.get(self.keys.head)
        return decode_head(kv) if kv else None

    def append(
        self, height: int, parent_hash: bytes, block_bytes: bytes, *, block_hash: bytes, lease: int
    ) -> Head:
        """Commit the block at ``height`` on ``parent_hash`` if the caller, holding the
        election with ``lease``, is still the minter; the new head.

        ``AppendRejected`` says why not. ``EtcdUnavailable`` leaves the outcome open when
        ``sent``: call again with the same block until an answer comes."""
        if height < 1:
            raise ValueError(f"appended blocks start at height 1, not {height}")
        if len(block_bytes) > self.max_block_bytes:
            raise BlockTooLarge(
                f"block {height} is {len(block_bytes)} bytes; the log takes at most "
                f"{self.max_block_bytes}",
                details={"height": height, "size": len(block_bytes)},
            )
        keys, block_key = self.keys, self.keys.block(height)
        new_head = encode_head(height, block_hash)
        result = self.client.txn(
            [
                compare_value(keys.head, encode_head(height - 1, parent_hash)),
                compare_lease(keys.minter, lease),
            ],
            [put_op(block_key, block_bytes), put_op(keys.head, new_head)],
            [range_op(keys.head), range_op(keys.minter), range_op(block_key)],
        )
        if result.succeeded:
            return Head(height, block_hash, result.revision)
        head_kvs, minter_kvs, block_kvs = (result.range_kvs(i) for i in range(3))
        if block_kvs and block_kvs[0].value == block_bytes:
            # this very block committed on an earlier attempt whose answer was lost
            return Head(height, block_hash, block_kvs[0].mod_revision)
        head = decode_head(head_kvs[0]) if head_kvs else None
        if head is None:
            raise AppendRejected(
                RejectReason.NOT_INITIALIZED,
                f"chain {keys.chain_id} has no genesis in etcd yet",
                None,
            )
        if not minter_kvs or minter_kvs[0].lease != lease:
            raise AppendRejected(
                RejectReason.NOT_LEADER,
                f"block {height} refused: lease {lease:x} no longer holds the minter election",
                head,
            )
        raise AppendRejected(
            RejectReason.HEAD_MOVED,
            f"block {height} refused: the head is block {head.height} 0x{head.hash.hex()}, "
            f"not its parent",
            head,
        )

    def read(self, height: int) -> CommittedBlock:
        """The committed block at ``height``; ``BlockPruned`` below etcd's window,
        ``BlockNotCommitted`` above the head."""
        if height < 1:
            raise ValueError(f"the log holds blocks from height 1, not {height}")
        keys = self.keys
        # one read-only transaction: the block, the head and the window agree
        result = self.client.txn(
            [], [range_op(keys.block(height)), range_op(keys.head), range_op(keys.oldest)]
        )
        block_kvs, head_kvs, oldest_kvs = (result.range_kvs(i) for i in range(3))
        if block_kvs:
            return CommittedBlock(height, block_kvs[0].value, block_kvs[0].mod_revision)
        head = decode_head(head_kvs[0]) if head_kvs else None
        if head is None or height > head.height:
            raise BlockNotCommitted(
                f"block {height} is not committed (head: {head.height if head else 'none'})",
                details={"height": height},
            )
        raise BlockPruned(height, int(oldest_kvs[0].value) if oldest_kvs else 1)

    def oldest(self) -> int:
        """The lowest height etcd still keeps."""
        kv = self.client.get(self.keys.oldest)
        return int(kv.value) if kv else 1

    def retain(self, last: int) -> int:
        """Keep only the ``last`` blocks up to the head in etcd: delete older block keys
        and compact the history before that deletion. The number of blocks deleted."""
        if last < 1:
            raise ValueError("retain at least one block")
        head = self.head()
        if head is None:
            return 0
        first_kept = max(1, head.height - last + 1)
        keys = self.keys
        current = self.client.get(keys.oldest)
        if current is not None and int(current.value) >= first_kept:
            return 0
        # the compare keeps two retainers from moving ``oldest`` backwards
        result = self.client.txn(
            [compare_version(keys.oldest, current.version if current else 0)],
            [
                delete_op(keys.blocks, keys.block(first_kept)),
                put_op(keys.oldest, str(first_kept).encode()),
            ],
        )
        if not result.succeeded:
            return 0
        deleted = int(result.responses[0].get("response_delete_range", {}).get("deleted", 0))
        with contextlib.suppress(EtcdCompacted):  # someone compacted further already
            self.client.compact(result.revision)
        log.info(
            "chain %s: etcd keeps blocks from %d (%d deleted, compacted at revision %d)",
            keys.chain_id,
            first_kept,
            deleted,
            result.revision,
        )
        return deleted

    def follow(
        self,
        from_height: int,
        *,
        stop: threading.Event | None = None,
        idle_timeout: float = 5.0,
    ) -> Iterator[CommittedBlock]:
        """Every committed block from ``from_height`` on, each once and in height order,
        as they commit; ends when ``stop`` is set (checked at least every
        ``idle_timeout`` seconds). ``BlockPruned`` when ``from_height`` (or where a slow
        follower got to) fell out of etcd's window.

        Reads what is there with ranges, then watches from the revision of that read;
        after any break (a member died, the cluster lost its majority, a compaction) it
        reads again from the next height it needs and watches from there."""
        if from_height < 1:
            raise ValueError(f"the log holds blocks from height 1, not {from_height}")
        stop = stop or threading.Event()
        next_height = from_height
        while not stop.is_set():
            try:
                while True:
                    blocks, revision, more = self._page(next_height)
                    for block in blocks:
                        yield block
                        next_height = block.height + 1
                    if not more:
                        break
                for block in self._watch(next_height, revision + 1, stop, idle_timeout):
                    yield block
                    next_height = block.height + 1
            except (EtcdUnavailable, EtcdCompacted) as exc:
                # an idle watch ends this way too (``idle_timeout``): read and watch again
                log.debug("following chain %s from %d: %s", self.keys.chain_id, next_height, exc)
                stop.wait(_RETRY_DELAY)

    def _page(self, next_height: int) -> tuple[list[CommittedBlock], int, bool]:
        """Up to ``FOLLOW_PAGE`` committed blocks from ``next_height`` on, the revision
        they were read at, and whether more follow."""
        keys = self.keys
        page = self.client.range(keys.block(next_height), keys.blocks_end, limit=FOLLOW_PAGE)
        blocks = [
            CommittedBlock(keys.height_of(kv.key), kv.value, kv.mod_revision) for kv in page.kvs
        ]
        first = blocks[0].height if blocks else None
        if (first is not None and first != next_height) or (
            first is None and next_height < self.oldest()
        ):
            self.read(next_height)  # raises BlockPruned: the window moved past this follower
            raise EtcdUnavailable(f"block {next_height} was missing from a range", sent=False)
        return blocks, page.revision, page.more

    def _watch(
        self, next_height: int, start_revision: int, stop: threading.Event, idle_timeout: float
    ) -> Iterator[CommittedBlock]:
        keys = self.keys
        for response in self.client.watch(
            keys.blocks, keys.blocks_end, start_revision=start_revision, idle_timeout=idle_timeout
        ):
            for event in response.events:
                if event.type is not EventType.PUT:
                    continue  # retention deleting old blocks
                height = keys.height_of(event.kv.key)
                if height < next_height:
                    continue
                if height > next_height:  # cannot happen with a compare-and-swap head
                    raise EtcdUnavailable(f"watch skipped block {next_height}", sent=False)
                yield CommittedBlock(height, event.kv.value, event.kv.mod_revision)
                next_height += 1
            if stop.is_set():
                return
