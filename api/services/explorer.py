"""The consortium explorer: blocks, transactions with their contract call and events
decoded from the deployed contracts' ABIs, the node allow-list, and a search by hash,
number or credit code. Read straight from the ledger (blocks and transactions are not in
the read model); governors (the consortium's administrators) and auditors only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import BlockNotFound

from api.readmodel.models import MemberRow
from api.services.governance import CalldataDecoder, member_ids_of
from api.services.visibility import NotFound
from chain.credit_code import InvalidCreditCode, credit_code_hash
from chain.deploy import Consortium
from chain.errors import jsonable
from chain.events import EventDecoder
from chain.ledger import Ledger

MAX_BLOCKS_PER_PAGE = 100
CREDIT_CODE_LENGTH = 18  # a unified social credit code may be all digits
MAX_TRANSACTIONS_PER_BLOCK_PAGE = 200


@dataclass(frozen=True)
class BlockSummary:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transaction_count: int
    gas_used: int


@dataclass(frozen=True)
class DecodedEvent:
    log_index: int
    contract: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class DecodedTransaction:
    hash: str
    block_number: int
    transaction_index: int
    sender: str
    sender_member_id: int | None
    to: str | None
    status: str  # "succeeded", "failed" or "pending"
    gas_used: int | None
    contract: str | None  # the consortium contract called, by name (None: not one of them)
    function: str | None
    args: dict[str, Any]
    events: list[DecodedEvent]


@dataclass(frozen=True)
class SearchMatch:
    kind: Literal["block", "transaction", "member"]
    ref: str  # the block's number, the transaction's hash, the member's id


class Explorer:
    """Reads of the ledger named in the consortium's words; one per app (its decoders
    index every contract's ABI once)."""

    def __init__(self, consortium: Consortium) -> None:
        self._consortium = consortium
        self._calls = CalldataDecoder(consortium)
        self._events = EventDecoder(consortium)
        self._names = {h.address.lower(): n for n, h in consortium.contracts.items()}

    @property
    def ledger(self) -> Ledger:
        return self._consortium.ledger

    def head(self) -> int:
        return self.ledger.block_number()

    def blocks(self, before: int | None, limit: int) -> list[BlockSummary]:
        """Up to ``limit`` blocks, newest first, below ``before`` (default: from the head)."""
        head = self.head()
        top = head if before is None else min(before - 1, head)
        return [self.block(n) for n in range(top, max(top - limit, -1), -1)]

    def block(self, number: int) -> BlockSummary:
        found = self._block(number)
        return BlockSummary(
            number=int(found["number"]),
            hash=jsonable(bytes(found["hash"])),
            parent_hash=jsonable(bytes(found["parentHash"])),
            timestamp=int(found["timestamp"]),
            transaction_count=len(found["transactions"]),
            gas_used=int(found["gasUsed"]),
        )

    def block_transactions(
        self, session: Session, number: int, limit: int, offset: int
    ) -> list[DecodedTransaction]:
        hashes = list(self._block(number)["transactions"])[offset : offset + limit]
        return [self.transaction(session, bytes(h)) for h in hashes]

    def transaction(self, session: Session, tx_hash: bytes) -> DecodedTransaction:
        found = self.ledger.get_transaction(tx_hash)
        if found is None:
            raise NotFound("transaction", jsonable(tx_hash))
        receipt = self.ledger.get_transaction_receipt(tx_hash)
        sender = str(found["from"])
        to = found.get("to")
        contract = function = None
        args: dict[str, Any] = {}
        data = bytes(found.get("input", b"") or b"")
        if to is not None and str(to).lower() in self._names and len(data) >= 4:
            action = self._calls.decode(str(to), data)
            contract, function, args = action.contract, action.function, action.args
        events: list[DecodedEvent] = []
        status = "pending"
        if receipt is not None:
            status = "succeeded" if int(receipt["status"]) == 1 else "failed"
            for log in receipt["logs"]:
                event = self._events.decode(log)
                if event is not None:
                    readable = {k: jsonable(v) for k, v in event.args.items()}
                    events.append(
                        DecodedEvent(event.log_index, event.contract, event.name, readable)
                    )
        return DecodedTransaction(
            hash=jsonable(tx_hash),
            block_number=int(found["blockNumber"]) if found.get("blockNumber") is not None else -1,
            transaction_index=int(found.get("transactionIndex") or 0),
            sender=sender,
            sender_member_id=member_ids_of(session, [sender, sender.lower()]).get(sender.lower()),
            to=None if to is None else str(to),
            status=status,
            gas_used=None if receipt is None else int(receipt["gasUsed"]),
            contract=contract,
            function=function,
            args=args,
            events=events,
        )

    def nodes(self) -> list[dict[str, Any]]:
        """The node allow-list (NodeRegistry), removed nodes included."""
        registry = self._consortium.nodes
        listed = []
        for node_id in registry.call("nodeIds"):
            node = registry.call_struct("getNode", node_id)
            listed.append(
                {
                    "id": jsonable(bytes(node_id)),
                    "owner_member_id": int(node["ownerMemberId"]),
                    "endpoint": str(node["endpoint"]),
                    "allowed": bool(node["allowed"]),
                    "added_at": int(node["addedAt"]),
                    "public_key": jsonable(bytes(node["publicKey"])),
                }
            )
        return listed

    def search(self, session: Session, query: str) -> list[SearchMatch]:
        """What ``query`` names: a 32-byte hash (a transaction's, else a block's), a number
        (a block and a member of that id), or a unified social credit code (a member)."""
        text = query.strip()
        matches: list[SearchMatch] = []
        hex_part = text.removeprefix("0x").removeprefix("0X")
        if len(hex_part) == 64 and _is_hex(hex_part):
            digest = bytes.fromhex(hex_part)
            if self.ledger.get_transaction(digest) is not None:
                matches.append(SearchMatch("transaction", jsonable(digest)))
            block = self._block_or_none(digest)
            if block is not None:
                matches.append(SearchMatch("block", str(int(block["number"]))))
        elif text.isdigit() and len(text) < CREDIT_CODE_LENGTH:  # 18 digits: a credit code
            number = int(text)
            if number <= self.head():
                matches.append(SearchMatch("block", str(number)))
            if number > 0 and session.get(MemberRow, number) is not None:
                matches.append(SearchMatch("member", str(number)))
        else:
            try:
                code_hash = jsonable(credit_code_hash(text))
            except InvalidCreditCode:
                return matches
            found = session.scalar(
                select(MemberRow.id).where(MemberRow.credit_code_hash == code_hash)
            )
            if found is not None:
                matches.append(SearchMatch("member", str(found)))
        return matches

    def _block(self, number: int) -> Any:
        if number < 0 or number > self.head():
            raise NotFound("block", number)
        return self.ledger.get_block(number)

    def _block_or_none(self, digest: bytes) -> Any:
        try:
            return self.ledger.get_block(digest)
        except BlockNotFound:
            return None


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
