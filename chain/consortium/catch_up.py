"""Catching up from peers on blocks older than etcd's window (docs/decisions/0020).

etcd keeps the last K blocks (``chain.consortium.retention``). A node whose next block
is older than that (``BlockPruned``) fetches the missing blocks from its peers'
JSON-RPC (``chain.consortium.peers``) and trusts none of what they say:

1. **Which blocks.** The oldest block etcd keeps names its parent's hash: that is the
   anchor, committed by the log. The node fetches the headers between its head and the
   anchor from a peer and checks them downwards, each the parent the one above names.
   A header that is not is the peer's lie (a fork, a tampered header): the peer is
   refused and the next one asked. Once every header checks, they are the committed
   chain, and if the lowest does not sit on the node's own head it is the node that
   differs from the committed chain: it halts, as on a log block that does not fit.
2. **Each block.** It fetches the sealed blocks (block and seal, as the log holds them)
   and imports one only if its hash is the committed one, its transactions, uncles and
   withdrawals are the ones the header commits to, and its seal recovers the key its
   coinbase names. Anything else is the peer's lie: refused, the next peer asked, from
   where the node got to. A committed block whose sealer the allow-list did not allow
   at its parent, or that does not re-execute to itself, is a real divergence: the node
   halts, as it would on the same block from the log.

A lying peer thus never halts a node; only the committed chain can.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from enum import StrEnum

import rlp  # type: ignore[import-untyped]
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.db.trie import make_trie_root_and_nodes
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_utils.crypto import keccak

from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog, BlockPruned
from chain.consortium.peers import (
    DEFAULT_TIMEOUT,
    MAX_BLOCKS,
    MAX_HEADERS,
    Peer,
    PeerClient,
    PeerUnavailable,
)
from chain.consortium.seal import BadSeal, decode_entry
from chain.embedded.node import EmbeddedNode, ImportMismatch
from chain.errors import LedgerError

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    CAUGHT_UP = "caught_up"  # the node's next block is in etcd's window: follow the log
    HALTED = "halted"  # the committed chain differs from the node's: it halted
    NO_PEER = "no_peer"  # no peer served the history this time: ask again later
    STOPPED = "stopped"


class PeerRefused(LedgerError):
    """A peer served something other than the committed chain."""

    code = "peer_refused"


class _Halted(Exception):
    """The node halted (it said why)."""


class HistoryCatchUp:
    """Import, from ``peers``, the committed blocks between ``node``'s head and the
    oldest block ``block_log`` keeps."""

    def __init__(
        self,
        node: EmbeddedNode,
        block_log: BlockLog,
        allow_list: AllowList,
        peers: Sequence[Peer],
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not peers:
            raise ValueError("catching up needs at least one peer")
        self.node = node
        self.block_log = block_log
        self.allow_list = allow_list
        self._clients = [PeerClient(peer, timeout=timeout) for peer in peers]
        self.refused: dict[str, str] = {}  # peer URL -> why its last answer was refused
        self._first = 0  # the peer asked first: the one that served last

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def run(self, stop: threading.Event) -> Outcome:
        """Catch up until the node's next block is in etcd's window (the window may
        move on meanwhile: then again)."""
        while not stop.is_set():
            if self.node.halted is not None:
                return Outcome.HALTED
            head = self.node.head
            oldest = self.block_log.oldest()
            if head.block_number + 1 >= oldest:
                return Outcome.CAUGHT_UP
            try:
                anchor = self._anchor(oldest)
            except BlockPruned:
                continue  # the window moved on since ``oldest`` was read
            except _Halted:
                return Outcome.HALTED
            log.info(
                "blocks %d to %d are older than etcd's window: fetching them from peers",
                head.block_number + 1,
                oldest - 1,
            )
            outcome = self._fetch(head, oldest - 1, anchor, stop)
            if outcome is not Outcome.CAUGHT_UP:
                return outcome
        return Outcome.STOPPED

    def _anchor(self, oldest: int) -> bytes:
        """The hash of block ``oldest - 1``, as the oldest block in the log names it."""
        committed = self.block_log.read(oldest)
        try:
            block = decode_entry(committed.data).block
        except BadSeal as exc:  # the follower would halt on this entry too
            self.node.halt(f"log height {oldest}: {exc.message}")
            raise _Halted from None
        if block.number != oldest:
            self.node.halt(f"log height {oldest} holds block {block.number}")
            raise _Halted
        return bytes(block.header.parent_hash)

    def _fetch(
        self, head: BlockHeaderAPI, last: int, anchor: bytes, stop: threading.Event
    ) -> Outcome:
        hashes: list[bytes] | None = None  # the committed hashes from head + 1 to ``last``
        for index, client in self._rotation():
            if stop.is_set():
                return Outcome.STOPPED
            url = client.peer.url
            try:
                if hashes is None:
                    hashes = self._committed_hashes(client, head, last, anchor)
                if not self._import(client, head.block_number + 1, hashes, stop):
                    return Outcome.STOPPED
            except PeerRefused as exc:
                log.warning("refused what peer %s served: %s", url, exc.message)
                self.refused[url] = exc.message
                continue
            except PeerUnavailable as exc:
                log.warning("peer %s could not serve history: %s", url, exc.message)
                continue
            except _Halted:
                return Outcome.HALTED
            self._first = index
            return Outcome.CAUGHT_UP
        log.error("no peer served blocks %d to %d", self.node.head.block_number + 1, last)
        return Outcome.NO_PEER

    def _rotation(self) -> Iterator[tuple[int, PeerClient]]:
        count = len(self._clients)
        for step in range(count):
            index = (self._first + step) % count
            yield index, self._clients[index]

    def _committed_hashes(
        self, client: PeerClient, head: BlockHeaderAPI, last: int, anchor: bytes
    ) -> list[bytes]:
        """The hashes of blocks head + 1 to ``last`` on the chain that leads to ``anchor``,
        from the peer's headers, each checked."""
        first = int(head.block_number) + 1
        hashes: list[bytes] = []
        parents: list[bytes] = []
        while first + len(hashes) <= last:
            height = first + len(hashes)
            page = client.headers(height, min(MAX_HEADERS, last - height + 1))
            if not page:
                raise PeerUnavailable(f"{client.peer.url} has no block {height}")
            for raw in page:
                header = _decode_header(raw, height)
                hashes.append(bytes(header.hash))
                parents.append(bytes(header.parent_hash))
                height += 1
        expected = anchor  # downwards: each header is the parent the one above names
        for offset in reversed(range(len(hashes))):
            if hashes[offset] != expected:
                raise PeerRefused(
                    f"its block {first + offset} is 0x{hashes[offset].hex()}; the chain "
                    f"the log commits to has 0x{expected.hex()}"
                )
            expected = parents[offset]
        if expected != head.hash:  # every header checked: it is this node that differs
            self.node.halt(
                f"block {head.block_number}: this node holds 0x{head.hash.hex()}, the chain "
                f"the log commits to has 0x{expected.hex()}"
            )
            raise _Halted
        return hashes

    def _import(
        self, client: PeerClient, first: int, hashes: list[bytes], stop: threading.Event
    ) -> bool:
        """Import the committed blocks from the node's head on; False if stopped."""
        last = first + len(hashes) - 1
        while (height := int(self.node.head.block_number) + 1) <= last:
            if stop.is_set():
                return False
            page = client.sealed_blocks(height, min(MAX_BLOCKS, last - height + 1))
            if not page:
                raise PeerUnavailable(f"{client.peer.url} has no block {height}")
            for raw in page:
                self._import_one(raw, height, hashes[height - first])
                height += 1
        return True

    def _import_one(self, raw: bytes, height: int, committed_hash: bytes) -> None:
        try:
            entry = decode_entry(raw)
        except BadSeal as exc:  # no honest node keeps a block whose seal is bad
            raise PeerRefused(f"block {height}: {exc.message}") from None
        block = entry.block
        if block.number != height or bytes(block.hash) != committed_hash:
            raise PeerRefused(
                f"block {height}: it served block {block.number} 0x{block.hash.hex()}, "
                f"not the committed 0x{committed_hash.hex()}"
            )
        wrong = _body_mismatch(block)
        if wrong is not None:
            raise PeerRefused(f"block {height}: its {wrong} are not the ones its header names")
        head = self.node.head
        refusal = self.allow_list.refusal(self.node.reader, entry.node_id, head)
        if refusal is not None:  # the committed block itself: a real divergence
            self.node.halt(f"block {height} is sealed by {refusal}")
            raise _Halted
        try:
            self.node.import_block(block, entry.seal)  # re-executes, halts on a mismatch
        except ImportMismatch:
            raise _Halted from None


def _decode_header(raw: bytes, height: int) -> BlockHeaderAPI:
    try:
        header: BlockHeaderAPI = rlp.decode(raw, sedes=PragueBlockHeader)
    except Exception as exc:  # any malformed header is refused the same way
        raise PeerRefused(f"block {height}: not a header: {exc!r}"[:300]) from None
    if header.block_number != height:
        raise PeerRefused(f"asked for header {height}, it served {header.block_number}")
    return header


def _body_mismatch(block: BlockAPI) -> str | None:
    """Which part of the block's body its header does not commit to, if any: with the
    hash checked, the body is all a peer could still have changed."""
    header = block.header
    if make_trie_root_and_nodes(block.transactions)[0] != header.transaction_root:
        return "transactions"
    if keccak(rlp.encode(block.uncles)) != header.uncles_hash:
        return "uncles"
    if make_trie_root_and_nodes(block.withdrawals)[0] != header.withdrawals_root:
        return "withdrawals"
    return None
