"""Node-level permissioning: who may send raw transactions to the embedded node.

``MemberAdmission`` is the node's admission hook (``EmbeddedNode.admission``).
It lets a sender through when the consortium's own contracts, read by
``eth_call`` on the node's head state, say it is a bound account of an active
member (``MemberRegistry.requireActive``) or a governor
(``ConsortiumGovernance.isGovernor``). Before the consortium is deployed the
node has no policy and admits everyone (genesis bootstrap).

A governance handed over to its successor (chain/migration.py: a pre-proxy
consortium adopting the current contracts) has that contract as its only
governor; the successor's governors are then admitted as governors, so that the
committee can vote there until the nodes switch to the successors (``migrate
finish``).

Answers are cached for as long as the two contracts' state stays the same: both
functions read only their own contract's storage, so an answer holds while the
storage roots (and code) of ``MemberRegistry`` and ``ConsortiumGovernance`` are
unchanged. The node keeps those two accounts up to date as it seals blocks
(``EmbeddedNode.head_accounts``): the blocks of everyday business, which touch
neither contract's storage, keep every answer, and a block that admits,
suspends or removes anyone, or changes the governors, starts the cache afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_typing import Hash32
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from chain.embedded.node import TransactionRejected
from chain.embedded.rpc import EXECUTION_REVERTED, RpcError, RpcHandler
from chain.embedded.rules import Standing

NOT_PERMITTED = -32003
"""JSON-RPC error code of a refused sender (Besu and GoQuorum use -32003 for permissioning)."""

_REQUIRE_ACTIVE = keccak(text="requireActive(address)")[:4]
_IS_GOVERNOR = keccak(text="isGovernor(address)")[:4]
_GOVERNORS = keccak(text="governors()")[:4]


class MemberAdmission:
    """Admit senders that are active members' accounts or governors; refuse the rest."""

    def __init__(
        self,
        handler: RpcHandler,
        members: str,
        governance: str,
        *,
        exempt: Iterable[str | bytes] = (),
    ) -> None:
        self._handler = handler
        self._members = to_checksum_address(members)
        self._governance = to_checksum_address(governance)
        self._exempt = {bytes(to_canonical_address(a)) for a in exempt}
        self._contracts = (
            bytes(to_canonical_address(members)),
            bytes(to_canonical_address(governance)),
        )
        self._delegate: bytes | None = None  # the governance's successor, once handed over
        self._lock = threading.Lock()
        self._head = b""  # the head block whose contract state ``_state`` is
        self._state: tuple[Hash32, ...] = ()  # the contracts' storage roots and code hashes
        self._cache: dict[bytes, bool] = {}  # answers, valid while ``_state`` holds

    def __call__(self, sender: bytes) -> None:
        if sender in self._exempt or self._admitted(sender):
            return
        raise TransactionRejected(
            f"sender {to_checksum_address(sender)} is not an active member of the consortium",
            code=NOT_PERMITTED,
            standing=Standing.STATE,
        )

    def _admitted(self, sender: bytes) -> bool:
        node = self._handler.node
        delegate = self._delegate
        tracked = self._contracts + ((delegate,) if delegate else ())
        head, contracts = node.head_accounts(tracked)
        changed = False
        with self._lock:
            if head.hash != self._head:
                state = tuple(v for c in contracts for v in (c.storage_root, c.code_hash))
                self._head = head.hash
                if state != self._state:
                    self._state, self._cache, changed = state, {}, True
            state = self._state
            if sender in self._cache and not changed:
                return self._cache[sender]
        if changed:  # the governors may have changed: look for a successor again
            self._delegate = self._successor()
        admitted = self._is_active_member(sender) or self._is_governor(sender)
        with self._lock:
            # Kept only if the calls ran on that same head ("latest" may have moved on).
            if node.head.hash == head.hash and self._state == state:
                self._cache[sender] = admitted
        return admitted

    def _is_active_member(self, sender: bytes) -> bool:
        try:
            member_id = self._call(self._members, _REQUIRE_ACTIVE, sender)
        except RpcError as exc:
            if exc.code == EXECUTION_REVERTED:  # an unknown account or a member not active
                return False
            raise
        return len(member_id) == 32  # no code at the address answers nothing: refuse

    def _is_governor(self, sender: bytes) -> bool:
        if self._governor_of(self._governance, sender):
            return True
        delegate = self._delegate
        if delegate is None:
            return False
        try:  # a governor contract that is no governance (a multisig, say) answers nothing
            return self._governor_of(to_checksum_address(delegate), sender)
        except RpcError as exc:
            if exc.code == EXECUTION_REVERTED:
                return False
            raise

    def _governor_of(self, governance: str, sender: bytes) -> bool:
        answer = self._call(governance, _IS_GOVERNOR, sender)
        return len(answer) == 32 and bool(abi_decode(["bool"], answer)[0])

    def _successor(self) -> bytes | None:
        """The governance's only governor when that is a contract (its successor), else None."""
        payload = "0x" + _GOVERNORS.hex()
        call = {"to": self._governance, "data": payload}
        result: Any = self._handler.handle("eth_call", [call, "latest"])
        try:
            (governors,) = abi_decode(["address[]"], bytes.fromhex(str(result)[2:]))
        except DecodingError:  # no governance code there (yet): no successor
            return None
        if len(governors) != 1:
            return None
        code: Any = self._handler.handle("eth_getCode", [governors[0], "latest"])
        return bytes(to_canonical_address(governors[0])) if len(str(code)) > 2 else None

    def _call(self, to: str, selector: bytes, sender: bytes) -> bytes:
        payload = "0x" + (selector + abi_encode(["address"], [sender])).hex()
        result: Any = self._handler.handle("eth_call", [{"to": to, "data": payload}, "latest"])
        return bytes.fromhex(str(result).removeprefix("0x"))
