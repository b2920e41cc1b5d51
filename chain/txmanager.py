"""The transaction manager: how everything that writes to the ledger sends transactions.

``TransactionManager(ledger, store)`` gives

- ``submit(signer, to, data, gas=...)`` → ``PendingTx`` as soon as the ledger
  has accepted the transaction, and ``transact(...)`` → receipt (a revert
  raises ``ContractRevert`` with the custom error's name and arguments);
- local per-account nonces: one lock per account is held from choosing the
  nonce until the ledger has accepted the transaction, so concurrent writers
  for one account never leave gaps or reuse a nonce. The first use of an
  account reads its pending nonce from the ledger (after re-sending what the
  store holds unconfirmed for it); a "nonce too low/high" refusal resynchronizes
  from the ledger and retries once with a newly signed transaction;
- idempotency: every signed transaction is written to the ``TxStore`` before it
  is sent; a second ``submit`` with the same key returns the stored transaction
  without signing anything, and ``resend_unconfirmed()`` re-sends after a
  restart what has no receipt yet;
- transactions that will never be mined end with a status instead of hanging:
  ``superseded`` when the ledger says "nonce too low" and has no receipt (another
  transaction took the nonce), ``dropped`` when the node left it out of its block
  (which also resynchronizes the account's nonce: the node drops the sender's
  later queued transactions with it). Waiting on such a transaction, or using its
  idempotency key again, raises ``TransactionSuperseded`` / ``TransactionDropped``.

Gas is always explicit here (never py-evm's binary-search estimate on the hot
path); tools that need a figure call ``estimate``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import TxParams, TxReceipt, Wei

from chain.accounts import Signer
from chain.contract import GAS_MARGIN_PERCENT
from chain.errors import ReceiptTimeout, ScfError, TransactionDropped, TransactionRefused
from chain.ledger import Ledger
from chain.txstore import TxRecord, TxStatus, TxStore, utc_now

log = logging.getLogger(__name__)


class IdempotencyConflict(ScfError):
    """An idempotency key came back with a different operation than it was first used for."""

    code = "idempotency_conflict"


class TransactionSuperseded(ScfError):
    """A stored transaction will never be mined: another transaction took its nonce."""

    code = "transaction_superseded"


class Refusal(Enum):
    NONCE_TOO_LOW = "nonce too low"
    NONCE_TOO_HIGH = "nonce too high"
    ALREADY_KNOWN = "already known"
    OTHER = "other"


# JSON-RPC nodes agree on no error code for these cases (geth, anvil and the embedded
# node answer -32000, others -32003 or their own), so the message is all there is. This is
# the ONE place that reads refusal text; each phrase is the one a known node sends.
_REFUSAL_PHRASES: tuple[tuple[str, Refusal], ...] = (
    ("nonce too low", Refusal.NONCE_TOO_LOW),  # geth, anvil, Besu, embedded node
    ("nonce too high", Refusal.NONCE_TOO_HIGH),  # geth, anvil, embedded node
    ("already known", Refusal.ALREADY_KNOWN),  # geth, erigon
    ("known transaction", Refusal.ALREADY_KNOWN),  # Besu, older geth
    ("already imported", Refusal.ALREADY_KNOWN),  # anvil / reth
)


def classify_refusal(exc: TransactionRefused) -> Refusal:
    """What kind of refusal ``exc`` is, from the JSON-RPC error the ledger returned."""
    error = exc.details.get("rpc_error")
    message = error.get("message") if isinstance(error, dict) else None
    text = str(message if message is not None else exc.message).lower()
    for phrase, refusal in _REFUSAL_PHRASES:
        if phrase in text:
            return refusal
    return Refusal.OTHER


@dataclass(frozen=True)
class PendingTx(TxRecord):
    """A stored transaction the ledger has (or, when ``reused``, had earlier) been given:
    its record, and whether this ``submit`` found it stored for a repeated idempotency key."""

    reused: bool = False

    @classmethod
    def of(cls, record: TxRecord, *, reused: bool) -> PendingTx:
        stored = {f.name: getattr(record, f.name) for f in dataclasses.fields(TxRecord)}
        return cls(**stored, reused=reused)


class _Account:
    """Nonce state of one sending account; ``lock`` guards it and the order of sends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_nonce: int | None = None  # None: read from the ledger on next use


class TransactionManager:
    """Signs, stores, sends and follows transactions for any number of accounts."""

    def __init__(self, ledger: Ledger, store: TxStore, *, receipt_timeout: float = 30.0) -> None:
        self.ledger = ledger
        self.store = store
        self.receipt_timeout = receipt_timeout
        self._accounts: dict[str, _Account] = {}
        self._accounts_lock = threading.Lock()

    # ---- sending --------------------------------------------------------------------------
    def submit(
        self,
        signer: Signer,
        to: str | None,
        data: bytes,
        *,
        gas: int,
        value: int = 0,
        idempotency_key: str | None = None,
    ) -> PendingTx:
        """Sign, store and send one transaction; return as soon as the ledger accepted it.

        With an ``idempotency_key`` already used, return the stored transaction and sign
        nothing; raise ``IdempotencyConflict`` if the key was used for another operation.
        """
        if gas <= 0:
            raise ValueError(f"gas must be positive, got {gas}")
        sender = signer.address
        target = _checksum(to) if to is not None else None
        fees = self.ledger.fee_params()
        account = self._account(sender)
        with account.lock:  # a key's replay is looked up once, under the sender's lock
            if idempotency_key is not None:
                stored = self.store.by_key(idempotency_key)
                if stored is not None:
                    return self._reuse(stored, sender, target, data, value)
            nonce = self._next_nonce(account, sender)
            fields = {"to": target, "data": data, "value": value, "gas": gas, **fees}
            raw, tx_hash = _sign(signer, self.ledger.chain_id, nonce, fields)
            record = TxRecord(
                idempotency_key=idempotency_key,
                sender=sender,
                nonce=nonce,
                to=target,
                data=data,
                value=value,
                gas=gas,
                raw=raw,
                tx_hash=tx_hash,
                status=TxStatus.PENDING,
                created_at=utc_now(),
            )
            holder = self.store.add(record)
            if holder is not None:  # the key went to a thread of another sender
                return self._reuse(holder, sender, target, data, value)
            # From here the transaction may reach the ledger: its nonce is spent unless
            # the ledger refuses it outright.
            account.next_nonce = nonce + 1
            record = self._send_new(signer, account, record, fields)
        return PendingTx.of(record, reused=False)

    def wait(self, pending: PendingTx, timeout: float | None = None) -> TxReceipt:
        """The receipt of ``pending``; a revert raises ``ContractRevert``, a transaction
        that will never be mined ``TransactionDropped`` or ``TransactionSuperseded``."""
        try:
            receipt = self.ledger.wait_for_transaction_receipt(
                pending.tx_hash, timeout if timeout is not None else self.receipt_timeout
            )
        except TransactionDropped:
            self._mark_dropped(pending.sender, pending.tx_hash)
            self.resync(pending.sender)  # the node dropped the sender's later ones too
            raise
        except ReceiptTimeout:
            self._check_superseded(pending)
            raise
        ok = receipt["status"] == 1
        self.store.set_status(pending.tx_hash, TxStatus.MINED if ok else TxStatus.REVERTED)
        if not ok:
            replay: TxParams = {
                "from": Web3.to_checksum_address(pending.sender),
                "data": pending.data,
                "value": Wei(pending.value),
                "gas": pending.gas,
            }
            if pending.to is not None:
                replay["to"] = Web3.to_checksum_address(pending.to)
            raise self.ledger.revert_of(replay, receipt)
        return receipt

    def transact(
        self,
        signer: Signer,
        to: str | None,
        data: bytes,
        *,
        gas: int,
        value: int = 0,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> TxReceipt:
        """``submit`` and ``wait``: the receipt, or ``ContractRevert`` with the custom error."""
        pending = self.submit(
            signer, to, data, gas=gas, value=value, idempotency_key=idempotency_key
        )
        return self.wait(pending, timeout)

    def estimate(self, sender: str, to: str | None, data: bytes, value: int = 0) -> int:
        """Gas for tools and tests: the ledger's estimate plus a margin. Not for the hot path."""
        params: TxParams = {
            "from": Web3.to_checksum_address(sender),
            "data": data,
            "value": Wei(value),
        }
        if to is not None:
            params["to"] = Web3.to_checksum_address(to)
        estimate = self.ledger.estimate_gas(params)
        return estimate + estimate * GAS_MARGIN_PERCENT // 100

    # ---- restart --------------------------------------------------------------------------
    def resend_unconfirmed(self) -> list[bytes]:
        """Re-send every stored transaction with no receipt (after a restart), in nonce
        order per account; return the hashes the ledger took now. Transactions the
        ledger already has, or has mined, are not sent twice."""
        senders = sorted({record.sender for record in self.store.unconfirmed()})
        sent: list[bytes] = []
        for sender in senders:
            account = self._account(sender)
            with account.lock:
                sent.extend(self._resend_stored(sender))
                account.next_nonce = None  # read again from the ledger on next use
        return sent

    def _mark_dropped(self, sender: str, tx_hash: bytes) -> None:
        """The node left ``tx_hash`` out of its block: never send it again."""
        self.store.set_status(tx_hash, TxStatus.DROPPED)
        log.warning("transaction 0x%s of %s was dropped by the node", tx_hash.hex(), sender)

    def _check_superseded(self, pending: PendingTx) -> None:
        """After a receipt timeout: if the account has moved past the nonce without this
        transaction, it is superseded; say so instead of letting callers wait again."""
        # The nonce first, then the receipt: a transaction mined in between has one.
        moved_on = self.ledger.get_transaction_count(pending.sender, "latest") > pending.nonce
        if moved_on and self.ledger.get_transaction_receipt(pending.tx_hash) is None:
            raise self._supersede(self.store.by_hash(pending.tx_hash) or pending) from None

    def _supersede(self, record: TxRecord) -> TransactionSuperseded:
        self.store.set_status(record.tx_hash, TxStatus.SUPERSEDED)
        log.warning(
            "transaction 0x%s of %s (nonce %d) was superseded",
            record.tx_hash.hex(),
            record.sender,
            record.nonce,
        )
        return _superseded_error(record)

    def resync(self, address: str) -> None:
        """Forget the local nonce of ``address``: the next use reads it from the ledger."""
        account = self._account(Web3.to_checksum_address(address))
        with account.lock:
            account.next_nonce = None

    # ---- internals ------------------------------------------------------------------------
    def _account(self, address: str) -> _Account:
        account = self._accounts.get(address)  # accounts are only ever added
        if account is not None:
            return account
        with self._accounts_lock:
            account = self._accounts.get(address)
            if account is None:
                account = self._accounts[address] = _Account()
            return account

    def _next_nonce(self, account: _Account, sender: str) -> int:
        """Held under ``account.lock``. The first use re-sends what the store holds for the
        account (a restart, a send lost in transit) and then asks the ledger."""
        if account.next_nonce is None:
            self._resend_stored(sender)
            account.next_nonce = self.ledger.get_transaction_count(sender, "pending")
        return account.next_nonce

    def _reuse(
        self, stored: TxRecord, sender: str, to: str | None, data: bytes, value: int
    ) -> PendingTx:
        if stored.status is TxStatus.SUPERSEDED and stored.same_request(sender, to, data, value):
            raise _superseded_error(stored)
        if stored.status is TxStatus.DROPPED and stored.same_request(sender, to, data, value):
            raise TransactionDropped(
                f"the transaction of idempotency key {stored.idempotency_key!r} "
                f"(0x{stored.tx_hash.hex()}) was dropped by the node and will never be "
                "mined; send the operation again with a new idempotency key",
                details=_details(stored),
            )
        if not stored.same_request(sender, to, data, value):
            raise IdempotencyConflict(
                f"idempotency key {stored.idempotency_key!r} was already used for another "
                f"transaction (0x{stored.tx_hash.hex()} from {stored.sender} to {stored.to}); "
                "use a new key for a different operation",
                details={
                    "idempotency_key": stored.idempotency_key,
                    "tx_hash": "0x" + stored.tx_hash.hex(),
                },
            )
        return PendingTx.of(stored, reused=True)

    def _send_new(
        self, signer: Signer, account: _Account, record: TxRecord, fields: dict[str, Any]
    ) -> TxRecord:
        """Send a just-stored transaction; on a nonce refusal resync and retry once."""
        try:
            self.ledger.send_raw_transaction(record.raw)
        except TransactionRefused as exc:
            refusal = classify_refusal(exc)
            if refusal in (Refusal.NONCE_TOO_LOW, Refusal.NONCE_TOO_HIGH):
                record = self._resign_and_send(signer, account, record, fields, exc)
            elif refusal is not Refusal.ALREADY_KNOWN:
                self._abandon(account, record)
                raise
        return record

    def _resign_and_send(
        self,
        signer: Signer,
        account: _Account,
        record: TxRecord,
        fields: dict[str, Any],
        cause: TransactionRefused,
    ) -> TxRecord:
        sender = record.sender
        if classify_refusal(cause) is Refusal.NONCE_TOO_HIGH:
            # A gap: an earlier transaction of ours may have been lost in transit.
            self._resend_stored(sender, skip=record.tx_hash)
        nonce = self.ledger.get_transaction_count(sender, "pending")
        log.warning(
            "nonce of %s out of step (%s): local %d, ledger %d; re-signing",
            sender,
            cause.message,
            record.nonce,
            nonce,
        )
        raw, tx_hash = _sign(signer, self.ledger.chain_id, nonce, fields)
        self.store.replace(record.tx_hash, nonce=nonce, raw=raw, tx_hash=tx_hash)
        record = dataclasses.replace(record, nonce=nonce, raw=raw, tx_hash=tx_hash)
        account.next_nonce = nonce + 1
        try:
            self.ledger.send_raw_transaction(raw)
        except TransactionRefused as exc:
            if classify_refusal(exc) is not Refusal.ALREADY_KNOWN:
                self._abandon(account, record)
                raise
        return record

    def _abandon(self, account: _Account, record: TxRecord) -> None:
        """The ledger refused ``record`` for good: forget it and re-read the nonce next time."""
        self.store.delete(record.tx_hash)
        account.next_nonce = None
        log.warning(
            "ledger refused transaction 0x%s of %s (nonce %d)",
            record.tx_hash.hex(),
            record.sender,
            record.nonce,
        )

    def _resend_stored(self, sender: str, skip: bytes | None = None) -> list[bytes]:
        """Held under the account's lock: re-send its unconfirmed stored transactions."""
        sent: list[bytes] = []
        for record in self.store.unconfirmed(sender):
            if record.tx_hash != skip and self._resend(record):
                sent.append(record.tx_hash)
        return sent

    def _resend(self, record: TxRecord) -> bool:
        """Send a stored transaction again; True if the ledger took it only now."""
        if self._settled(record):
            return False
        if self.ledger.dropped_reason(record.tx_hash) is not None:
            # Held under the account's lock; its callers read the nonce from the ledger next.
            self._mark_dropped(record.sender, record.tx_hash)
            return False
        try:
            self.ledger.send_raw_transaction(record.raw)
        except TransactionRefused as exc:
            refusal = classify_refusal(exc)
            if refusal is Refusal.ALREADY_KNOWN:
                return False  # the ledger holds it
            if refusal is Refusal.NONCE_TOO_LOW:
                if not self._settled(record):  # not mined since we looked: its nonce is gone
                    self._supersede(record)
                return False
            log.warning(
                "could not re-send transaction 0x%s of %s (nonce %d): %s",
                record.tx_hash.hex(),
                record.sender,
                record.nonce,
                exc.message,
            )
            return False
        log.info(
            "re-sent transaction 0x%s of %s (nonce %d)",
            record.tx_hash.hex(),
            record.sender,
            record.nonce,
        )
        return True

    def _settled(self, record: TxRecord) -> bool:
        """Whether ``record`` has a receipt now (and store its outcome if so)."""
        receipt = self.ledger.get_transaction_receipt(record.tx_hash)
        if receipt is None:
            return False
        ok = receipt["status"] == 1
        self.store.set_status(record.tx_hash, TxStatus.MINED if ok else TxStatus.REVERTED)
        return True


def _details(record: TxRecord) -> dict[str, Any]:
    return {
        "idempotency_key": record.idempotency_key,
        "tx_hash": "0x" + record.tx_hash.hex(),
        "sender": record.sender,
        "nonce": record.nonce,
    }


def _superseded_error(record: TxRecord) -> TransactionSuperseded:
    key = f"idempotency key {record.idempotency_key!r}" if record.idempotency_key else "no key"
    return TransactionSuperseded(
        f"transaction 0x{record.tx_hash.hex()} ({key}) will never be mined: nonce "
        f"{record.nonce} of {record.sender} was used by another transaction; check whether "
        "that one did the same operation before sending it again with a new idempotency key",
        details=_details(record),
    )


@lru_cache(maxsize=4096)
def _checksum(address: str) -> ChecksumAddress:
    """``address`` checksummed; a writer sends to a few contracts, each is converted once."""
    return Web3.to_checksum_address(address)


def _sign(signer: Signer, chain_id: int, nonce: int, fields: dict[str, Any]) -> tuple[bytes, bytes]:
    tx = {k: v for k, v in fields.items() if not (k == "to" and v is None)}
    return signer.sign_transaction({**tx, "nonce": nonce, "chainId": chain_id})
