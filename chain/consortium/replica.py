"""One consortium node's ledger: verifier (or learner) following the log, or minter.

``ConsortiumReplica`` runs two threads beside the embedded node:

- the follower reads the block log from the node's head + 1 and imports every committed
  block: the entry must be a sealed block (``chain.consortium.seal``) whose sealer the
  NodeRegistry allowed at its parent (``chain.consortium.allow_list``), and it must
  re-execute to exactly itself (``EmbeddedNode.import_block``: state root, receipts root,
  gas used, and the rest of the header). Anything else halts the node at its last good
  block: no more imports, writes or minting; ``halted`` says why, loudly in the log;
- a validator's campaigner (a learner has none) stands in the minter election. When it
  wins, the follower stops, the node imports what the log holds beyond its head (it
  mints from the last committed block, never from a block of its own that was not
  final) and the producer starts minting (``EtcdFinality``). When its lease is lost or
  an append is refused, it stops minting, gives the election up, follows again and
  stands again. What other nodes forwarded to it is held for one term only
  (``EmbeddedNode.forget_forwarded``, ``nodes.consortium.forward``). While it mints, it
  keeps etcd's window of blocks bounded (``chain.consortium.retention``).

A node whose next block is older than etcd's window catches up from its ``peers``
(``chain.consortium.catch_up``) before it follows the log or mints.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from enum import StrEnum

from chain.consortium.allow_list import AllowList
from chain.consortium.block_log import BlockLog, BlockPruned, CommittedBlock
from chain.consortium.catch_up import HistoryCatchUp, Outcome
from chain.consortium.election import CampaignStopped, Election, Leadership
from chain.consortium.etcd import EtcdError
from chain.consortium.minter import EtcdFinality
from chain.consortium.peers import Peer
from chain.consortium.retention import DEFAULT_RETAIN_BLOCKS, Retention
from chain.consortium.seal import BadSeal, decode_entry, node_id
from chain.embedded.node import EmbeddedNode, ImportMismatch
from chain.errors import LedgerError

log = logging.getLogger(__name__)

FOLLOW_IDLE = 1.0  # seconds a follower may wait in a watch before it looks at its stop flag
_SERVE_POLL = 0.1  # how often a minter looks at its lease and its appends
# How long a new minter waits for a block of its previous term still being built (refused
# at once: it holds no leadership then) before it gives the term up.
SETTLE_SECONDS = 30.0
_RETRY_DELAY = 0.5


class Role(StrEnum):
    MINTER = "minter"
    VERIFIER = "verifier"
    LEARNER = "learner"
    HALTED = "halted"


class ConsortiumReplica:
    def __init__(
        self,
        node: EmbeddedNode,
        block_log: BlockLog,
        allow_list: AllowList,
        *,
        finality: EtcdFinality | None = None,
        election: Election | None = None,
        peers: Sequence[Peer] = (),
        retain: int = DEFAULT_RETAIN_BLOCKS,
    ) -> None:
        """A validator has ``finality`` (the node's ``NodeConfig.finality``) and an
        ``election``; a learner neither. ``peers``: the other nodes' JSON-RPC, to fetch
        blocks older than etcd's window from; ``retain``: how many blocks etcd keeps
        while this node mints."""
        if (finality is None) != (election is None):
            raise ValueError("a validator needs both its finality hook and its election")
        self.node = node
        self.block_log = block_log
        self.allow_list = allow_list
        self.finality = finality
        self.election = election
        self.history = HistoryCatchUp(node, block_log, allow_list, peers) if peers else None
        self.retention = Retention(block_log, retain)
        self._stop = threading.Event()
        self._quit = threading.Event()  # stop campaigning: the replica stops or halted
        self._follow_stop = threading.Event()
        self._follower: threading.Thread | None = None
        self._campaigner: threading.Thread | None = None
        self._minting = False

    # ---- status -------------------------------------------------------------------------
    @property
    def role(self) -> Role:
        if self.node.halted is not None:
            return Role.HALTED
        if self.election is None:
            return Role.LEARNER
        return Role.MINTER if self._minting else Role.VERIFIER

    @property
    def halted(self) -> str | None:
        return self.node.halted

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        genesis = self.node.reader.get_canonical_block_header_by_number(0)  # type: ignore[arg-type]
        self.block_log.initialize(bytes(genesis.hash))
        self._start_following()
        if self.election is not None:
            self._campaigner = threading.Thread(
                target=self._campaign, name="consortium-campaign", daemon=True
            )
            self._campaigner.start()

    def stop(self) -> None:
        """Stop following and campaigning; a minter gives the election up."""
        self._stop.set()
        self._quit.set()
        self._stop_following()
        if self._campaigner is not None:
            self._campaigner.join()
            self._campaigner = None
        if self.history is not None:
            self.history.close()

    # ---- following ----------------------------------------------------------------------
    def _start_following(self) -> None:
        self._follow_stop = threading.Event()
        self._follower = threading.Thread(
            target=self._follow, args=(self._follow_stop,), name="consortium-follow", daemon=True
        )
        self._follower.start()

    def _stop_following(self) -> None:
        self._follow_stop.set()
        if self._follower is not None:
            self._follower.join()
            self._follower = None

    def _follow(self, stop: threading.Event) -> None:
        while not stop.is_set() and self.node.halted is None:
            try:
                start = self.node.head.block_number + 1
                for committed in self.block_log.follow(start, stop=stop, idle_timeout=FOLLOW_IDLE):
                    if not self._import(committed):
                        self._quit.set()  # a halted node never mints
                        return
            except BlockPruned as exc:
                outcome = self._fetch_history(stop, exc)
                if outcome is Outcome.HALTED:
                    self._quit.set()
                    return
                if outcome is not Outcome.CAUGHT_UP:
                    stop.wait(_RETRY_DELAY * 10)
            except EtcdError as exc:
                log.warning("following the log: %s", exc.message)
                stop.wait(_RETRY_DELAY)
            except Exception:  # the node's own trouble (its store): try again from its head
                log.exception("could not import a committed block")
                stop.wait(_RETRY_DELAY)

    def _import(self, committed: CommittedBlock) -> bool:
        """Import one committed block; False when the node halted on it."""
        try:
            entry = decode_entry(committed.data)
        except BadSeal as exc:
            self.node.halt(f"log height {committed.height}: {exc.message}")
            return False
        block = entry.block
        if block.number != committed.height:
            self.node.halt(f"log height {committed.height} holds block {block.number}")
            return False
        head = self.node.head
        if block.number == head.block_number + 1:
            refusal = self.allow_list.refusal(self.node.reader, entry.node_id, head)
            if refusal is not None:
                self.node.halt(f"block {block.number} is sealed by {refusal}")
                return False
        try:
            self.node.import_block(block, entry.seal)  # checks the parent, re-executes
        except ImportMismatch:
            return False  # the node halted, and said why
        return True

    def _fetch_history(self, stop: threading.Event, pruned: BlockPruned | None) -> Outcome:
        """Catch up from peers on what etcd no longer holds."""
        if self.history is None:
            if pruned is None:
                return Outcome.CAUGHT_UP  # reading the log will say if it is pruned
            log.error("cannot follow the log: %s (no peers to fetch it from)", pruned.message)
            return Outcome.NO_PEER
        return self.history.run(stop)

    def _catch_up(self) -> bool:
        """Import every block the log holds beyond the node's head, and before them what
        only peers hold; False if it halted or no peer served it."""
        if self._fetch_history(self._quit, None) is not Outcome.CAUGHT_UP:
            return False
        head = self.block_log.head()
        if head is None:
            return False
        for height in range(self.node.head.block_number + 1, head.height + 1):
            if not self._import(self.block_log.read(height)):
                return False
        return True

    # ---- minting ------------------------------------------------------------------------
    def _campaign(self) -> None:
        assert self.election is not None
        assert self.finality is not None
        while not self._quit.is_set() and self.node.halted is None:
            try:
                # off the allow-list, or behind etcd's window (the follower is fetching
                # from peers): follow as a learner, look again
                if not self._allowed() or self._behind_window():
                    self._quit.wait(self.election.ttl)
                    continue
                leadership = self.election.campaign(stop=self._quit)
            except CampaignStopped:
                return
            except EtcdError as exc:
                log.warning("campaigning for minter: %s", exc.message)
                self._quit.wait(_RETRY_DELAY)
                continue
            except Exception:  # reading the allow-list or the log: the campaign goes on
                log.exception("could not stand for minter; trying again")
                self._quit.wait(_RETRY_DELAY)
                continue
            try:
                if not self._stop.is_set() and self._become_minter(leadership):
                    self._serve(leadership)
            except LedgerError as exc:  # etcd trouble, or the log's window moved past us
                log.warning("taking over as minter: %s", exc.message)
            except Exception:  # the node's own trouble while catching up
                log.exception("could not take over as minter")
            finally:
                self._become_verifier()

    def _allowed(self) -> bool:
        """Whether this node may seal the block after its committed head."""
        assert self.finality is not None
        own = node_id(self.finality.key.public_key)
        return self.allow_list.allows(self.node.reader, own, self.node.head)

    def _behind_window(self) -> bool:
        return int(self.node.head.block_number) + 1 < self.block_log.oldest()

    def _become_minter(self, leadership: Leadership) -> bool:
        assert self.finality is not None
        self._stop_following()
        if not self._catch_up() or not leadership.held():
            return False
        # A term of its own: nothing another node forwarded in an earlier term (a minter
        # since may have refused it for good) goes into this term's blocks.
        self.node.forget_forwarded(settle_timeout=SETTLE_SECONDS)
        if not leadership.held():
            return False
        log.info("minting from block %d", self.node.head.block_number)
        self._minting = True
        self.finality.lead(leadership)
        self.node.wake_producer()
        return True

    def _serve(self, leadership: Leadership) -> None:
        """Mint until the lease is lost, an append is refused, or a block removes this
        node from the allow-list (then it stands down before it has anything to mint)."""
        assert self.finality is not None
        checked = b""  # the head whose allow-list was last read
        while (
            not self._stop.is_set()
            and leadership.held()
            and not self.finality.deposed.is_set()
            and self.node.halted is None
        ):
            head = self.node.head
            if head.hash != checked:
                checked = head.hash
                if not self._allowed():
                    log.warning(
                        "off the allow-list at block %d: stopped minting", head.block_number
                    )
                    return
                self.retention.after(int(head.block_number))
            self.finality.deposed.wait(_SERVE_POLL)

    def _become_verifier(self) -> None:
        assert self.finality is not None
        assert self.election is not None
        self.finality.step_down()
        self._minting = False
        self.node.forget_forwarded()  # their own nodes send them to the next minter
        self.node.wake_producer()
        with contextlib.suppress(EtcdError):  # unresigned, the lease runs out by itself
            self.election.resign()
        if not self._stop.is_set():
            self._start_following()
