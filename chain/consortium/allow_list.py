"""Who may seal block n: the NodeRegistry allow-list at block n-1's state.

The registry answers ``isNodeAllowed(keccak256(public key))``, read by a call on the
node's committed state at the parent. While the registry allows no node at all (before
its deployment, and between its deployment and the proposal that adds the first node)
the network's bootstrap sealers are allowed, as Clique's genesis signers are: the
network descriptor names them with the registry's address. Otherwise nobody could seal
the blocks that fill the allow-list.

Every block is checked (the minter before it appends, every verifier on import), and an
EVM call on a cold state costs as much as building a small block. The answers depend
only on the registry's own account (its code and storage: both views read nothing
else, and a proxy's implementation address is in its storage), so they are kept per
registry account as encoded in the state trie, read with one trie lookup.

The peer endpoints ask a finer question of the same registry (``standing``): whether a
node is allowed, was removed (its record stays, flagged), or was never listed (a learner,
or a joining node before its vote), answered and kept the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum
from typing import TypeVar, cast

from eth.abc import BlockHeaderAPI, ChainAPI, SignedTransactionAPI
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils.crypto import keccak
from trie.hexary import HexaryTrie

_IS_NODE_ALLOWED = keccak(text="isNodeAllowed(bytes32)")[:4]
_ALLOWED_NODE_COUNT = keccak(text="allowedNodeCount()")[:4]
_GET_NODE = keccak(text="getNode(bytes32)")[:4]
CALL_GAS = 1_000_000  # a mapping read; bounded so a strange registry cannot hang a verifier
ANSWERS_KEPT = 256  # (registry account, node) answers remembered; the registry rarely changes


class Standing(Enum):
    """A node in the NodeRegistry at some block."""

    ALLOWED = "allowed"  # on the allow-list (or a bootstrap sealer while it is empty)
    REMOVED = "removed"  # listed once, taken off by a vote
    UNLISTED = "unlisted"  # never listed: a learner, or a node before its vote


_Answer = TypeVar("_Answer", bool, Standing)


class AllowList:
    def __init__(self, registry: bytes | None, bootstrap: Iterable[bytes]) -> None:
        """``registry``: NodeRegistry's address (None: not deployed on this network yet);
        ``bootstrap``: node ids allowed while it allows no node."""
        self.registry = Address(registry) if registry is not None else None
        self.bootstrap = frozenset(bytes(n) for n in bootstrap)
        self._answers: dict[tuple[bytes, bytes], bool] = {}
        self._standings: dict[tuple[bytes, bytes], Standing] = {}

    def allows(self, chain: ChainAPI, node_id: bytes, parent: BlockHeaderAPI) -> bool:
        """Whether node ``node_id`` may seal the block after ``parent``, whose state
        ``chain`` holds (a verifier: its committed chain; the minter: its writer's)."""
        if self.registry is None:
            return node_id in self.bootstrap
        return self._allowed(self._key(chain, node_id, parent), chain, parent)

    def standing(self, chain: ChainAPI, node_id: bytes, parent: BlockHeaderAPI) -> Standing:
        """Node ``node_id`` in the registry at ``parent``'s state (kept as ``allows``)."""
        if self.registry is None:
            return Standing.ALLOWED if node_id in self.bootstrap else Standing.UNLISTED
        key = self._key(chain, node_id, parent)
        if self._allowed(key, chain, parent):
            return Standing.ALLOWED

        def listed() -> Standing:
            # getNode reverts for an id never listed; a removed node's record stays
            found = self._raw_call(chain, parent, _GET_NODE + key[1]) is not None
            return Standing.REMOVED if found else Standing.UNLISTED

        return _kept(self._standings, key, listed)

    def _key(self, chain: ChainAPI, node_id: bytes, parent: BlockHeaderAPI) -> tuple[bytes, bytes]:
        return (self._registry_account(chain, parent), bytes(node_id))

    def _allowed(self, key: tuple[bytes, bytes], chain: ChainAPI, parent: BlockHeaderAPI) -> bool:
        return _kept(self._answers, key, lambda: self._ask(chain, key[1], parent))

    def _ask(self, chain: ChainAPI, node_id: bytes, parent: BlockHeaderAPI) -> bool:
        if not self._call(chain, parent, _ALLOWED_NODE_COUNT):
            return node_id in self.bootstrap
        return self._call(chain, parent, _IS_NODE_ALLOWED + bytes(node_id)) == 1

    def _registry_account(self, chain: ChainAPI, parent: BlockHeaderAPI) -> bytes:
        """The registry's account at ``parent`` as the state trie encodes it (nonce,
        balance, storage root, code hash); empty when there is none."""
        assert self.registry is not None
        trie = HexaryTrie(chain.chaindb.db, parent.state_root)
        return bytes(trie.get(keccak(self.registry)))

    def refusal(self, chain: ChainAPI, node_id: bytes, parent: BlockHeaderAPI) -> str | None:
        """Why a block after ``parent`` sealed by ``node_id`` is refused, or None."""
        if self.allows(chain, node_id, parent):
            return None
        return (
            f"node 0x{bytes(node_id).hex()}, which is not on the allow-list at block "
            f"{parent.block_number}"
        )

    def _call(self, chain: ChainAPI, parent: BlockHeaderAPI, data: bytes) -> int:
        """A one-word answer of the registry at ``parent``'s state; 0 when it has no code,
        reverts or fails (a broken registry allows no one)."""
        answer = self._raw_call(chain, parent, data)
        if answer is None:
            return 0
        return int.from_bytes(answer, "big") if len(answer) == 32 else 0

    def _raw_call(self, chain: ChainAPI, parent: BlockHeaderAPI, data: bytes) -> bytes | None:
        """The registry's answer at ``parent``'s state; None when it has no code, reverts
        or fails."""
        assert self.registry is not None
        vm = chain.get_vm(parent)
        if not vm.state.get_code(self.registry):
            return None
        unsigned = vm.create_unsigned_transaction(
            nonce=0, gas_price=0, gas=CALL_GAS, to=self.registry, value=0, data=data
        )
        call = cast(SignedTransactionAPI, SpoofTransaction(unsigned, from_=Address(b"\0" * 20)))
        base = chain.create_header_from_parent(parent, timestamp=parent.timestamp)
        try:
            return bytes(chain.get_transaction_result(call, base))
        except Exception:  # a registry that reverts or fails allows no one
            return None


def _kept(
    answers: dict[tuple[bytes, bytes], _Answer],
    key: tuple[bytes, bytes],
    ask: Callable[[], _Answer],
) -> _Answer:
    """``answers[key]``, asked once; the dict is emptied when it holds ``ANSWERS_KEPT``."""
    answer = answers.get(key)
    if answer is None:
        answer = ask()
        if len(answers) >= ANSWERS_KEPT:
            answers.clear()
        answers[key] = answer
    return answer
