"""Writing to the ledger for a member: sign with its key, send once, wait, index.

The transaction manager sends the write with explicit gas under the request's
idempotency key (scoped to the member), waits for the block, and the indexer catches
up to it so the answer reads the member's own write. A write the contract refuses
reverts in its block and answers with the contract's custom error, read from the
ledger. On ledgers where a failed transaction may cost gas or its error cannot be
read back exactly (``Ledger.rehearse_writes``: external networks), the write is first
executed as a call, so a refused request sends nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3.exceptions import MismatchedABI, Web3ValidationError
from web3.types import TxReceipt

from api.readmodel.indexer import Indexer
from api.readmodel.models import MemberAccountRow, MemberRow
from api.services.custody import Custody, NoCustodialKey
from chain.contract import ContractHandle
from chain.errors import ContractRevert, ScfError
from chain.txmanager import TransactionManager

# Explicit gas per function: about 1.5x of what scripts/gas_table.py measures.
GAS = {
    "registerInvoice": 300_000,
    "confirmInvoice": 100_000,
    "disputeInvoice": 100_000,
    "cancelInvoice": 100_000,
    "issueCertificate": 1_000_000,
    "splitTransfer": 250_000,
    "grantCreditLine": 200_000,
    "approve": 100_000,
    "mint": 200_000,
    "burn": 150_000,
    "transfer": 150_000,
    "requestFinancing": 300_000,
    "approveFinancing": 400_000,
    "rejectFinancing": 120_000,
    "cancelFinancing": 120_000,
    "expireFinancing": 120_000,
    "repay": 250_000,
    "redeem": 200_000,
    "markOverdue": 100_000,
    # governance: a proposal stores its calldata and description; the proposer's vote, or a
    # later vote, may execute it in the same transaction (admitMember is the largest action)
    "propose": 2_500_000,
    "vote": 1_200_000,
    "execute": 1_000_000,
    "retally": 1_200_000,  # like a vote: it may approve and execute
    "revoke": 100_000,
}


class InvalidArguments(ScfError):
    code = "invalid_arguments"
    http_status = 422


class UnknownRecipient(ScfError):
    code = "member_not_found"
    http_status = 404


def release_connection(session: Session) -> None:
    """Give ``session``'s pooled connection back before the ledger is asked anything: a
    write waits for its block, and a connection held meanwhile is one fewer for every
    other request (a burst of writes once held the whole pool that way). What the
    session read stays usable (its sessions do not expire on commit); its next query
    checks a connection out again. A session with changes not yet written keeps its
    transaction: those changes are the route's to commit or drop."""
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()  # ends a transaction that only read


class LedgerWriter:
    def __init__(self, txm: TransactionManager, custody: Custody, indexer: Indexer) -> None:
        self._txm = txm
        self._custody = custody
        self._indexer = indexer
        self._member_locks: dict[int, threading.Lock] = {}
        self._counts_lock = threading.Lock()  # guards _member_locks and the counters
        self._sent: Counter[str] = Counter()  # function -> transactions signed and sent
        self._reverted: Counter[str] = Counter()  # function -> of those, reverted

    @property
    def indexer(self) -> Indexer:
        return self._indexer

    @property
    def custody(self) -> Custody:
        """The node's keystore of member signing keys (onboarding creates keys in it)."""
        return self._custody

    def member_lock(self, member_id: int) -> threading.Lock:
        """One lock per member, for a sequence of writes that must not interleave with
        another of the same member's (a token allowance and the action that spends it)."""
        with self._counts_lock:
            return self._member_locks.setdefault(member_id, threading.Lock())

    def transaction_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(sent, reverted) per contract function since this writer started (for /metrics)."""
        with self._counts_lock:
            return dict(self._sent), dict(self._reverted)

    def account_of(self, session: Session, member_id: int) -> str:
        """The account this node signs with for ``member_id`` (where its tokens live)."""
        return self._custody.signer_for_member(session, member_id).address

    def payee_of(self, session: Session, member_id: int) -> str:
        """Where to pay ``member_id`` (and where its tokens are read): its custodial
        account here, else its first bound one (a member whose node is elsewhere)."""
        try:
            return self.account_of(session, member_id)
        except NoCustodialKey:
            account = session.scalars(
                select(MemberAccountRow.address)
                .where(MemberAccountRow.member_id == member_id)
                .order_by(MemberAccountRow.address)
            ).first()
        if account is None:
            raise UnknownRecipient(
                f"no member {member_id} with a bound account", details={"member_id": member_id}
            )
        return account

    def write(
        self,
        session: Session,
        member: MemberRow,
        contract: ContractHandle,
        function: str,
        *args: Any,
        idempotency_key: str | None = None,
    ) -> TxReceipt:
        signer = self._custody.signer_for_member(session, member.id)
        try:
            data = contract.encode(function, *args)
        except (MismatchedABI, Web3ValidationError, ValueError, TypeError) as exc:
            # a value the schema let through but the ABI cannot hold (e.g. beyond uint256)
            raise InvalidArguments(
                f"an argument of {function} is out of range for the ledger",
                details={"function": function},
            ) from exc
        key = f"member:{member.id}:{idempotency_key}" if idempotency_key else None
        release_connection(session)
        if contract.ledger.rehearse_writes and (key is None or self._txm.store.by_key(key) is None):
            # a replay of a key skips the rehearsal: its transaction is already decided
            contract.ledger.call({"from": signer.address, "to": contract.address, "data": data})
        pending = self._txm.submit(
            signer, contract.address, data, gas=GAS[function], idempotency_key=key
        )
        if not pending.reused:
            with self._counts_lock:
                self._sent[function] += 1
        try:
            receipt = self._txm.wait(pending)
        except ContractRevert:
            if not pending.reused:
                with self._counts_lock:
                    self._reverted[function] += 1
            raise
        self._indexer.sync(int(receipt["blockNumber"]))
        return receipt
