"""An SCF Chain embedded node in another process, reached over its JSON-RPC.

``scf-node start`` runs the ledger in a process of its own (the block producer and the
REST API no longer share one interpreter lock) and its API reaches it like any
JSON-RPC node (``RpcLedger``), plus what the embedded node offers beyond the standard:

- a failed transaction's receipt carries its revert data (``revertReason``, as Besu
  names it), exact even when an earlier transaction of the same block caused the
  revert: writes need no rehearsal call (fees are zero, a refusal costs nothing), and
  the custom error is read from the receipt instead of a replay;
- ``scf_waitForTransactionReceipt`` waits for the block in one request instead of
  polling the head, and names a transaction the node dropped at once
  (``TransactionDropped``), as the in-process ledger does.

Every REST write sends a transaction, waits for it and indexes its logs: those requests
go over one kept-alive ``http.client`` connection per thread, formatted with web3.py's
own formatters but without its request pipeline (middlewares, ``requests``), which cost
the API process a large share of a REST write's CPU.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit

from web3.datastructures import AttributeDict
from web3.types import FilterParams, LogReceipt, TxParams, TxReceipt

from chain.backends.faucet import fund_from_faucet
from chain.backends.receipts import LazyReceipt
from chain.backends.rpc import METHOD_NOT_FOUND, RpcLedger
from chain.errors import (
    ContractRevert,
    LedgerError,
    LedgerUnreachable,
    NodeCannotSubmit,
    ReceiptTimeout,
    TransactionDropped,
    TransactionRefused,
)
from chain.revert import decode_revert
from chain.web3_internals import format_log_entry

TRANSACTION_DROPPED = -32003  # chain.embedded.rpc answers it for a dropped transaction
# ... and this one where the node takes no transactions (chain.embedded.rpc; a client of a
# node does not load the node's own modules, py-evm)
NODE_CANNOT_SUBMIT = -32002
WAIT_PER_REQUEST = 30.0  # seconds; the node caps one wait at 60
REQUEST_TIMEOUT = WAIT_PER_REQUEST + 30.0  # a wait, and a slow answer after it


def _as_json(value: Any) -> Any:
    """A filter value as JSON-RPC spells it: quantities and bytes in 0x-hex."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    raise TypeError(f"cannot send {type(value).__name__} in a log filter")


# failures of a kept-alive connection the server had closed before this request
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class ScfNodeLedger(RpcLedger):
    name: ClassVar[str] = "scf-node"
    rehearse_writes: ClassVar[bool] = False  # zero fees; receipts carry the revert data

    def __init__(self, url: str, timeout: float | None = None, token: str | None = None) -> None:
        super().__init__(url, timeout, token)
        self._headers = {"Content-Type": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._local = threading.local()  # each thread's kept-alive connection
        self._opened: set[http.client.HTTPConnection] = set()  # all of them, for close()
        self._opened_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ScfNodeLedger {self.url}>"

    # ---- the hot requests, without web3.py's pipeline ---------------------------------------
    def block_number(self) -> int:
        return int(self._request("eth_blockNumber", []), 16)

    def block_timestamp(self, block: int) -> int:
        # the indexer asks once per batch: web3.py's formatting of a whole block cost it
        # more than projecting the batch's events
        found = self._request("eth_getBlockByNumber", [hex(block), False])
        if found is None:
            raise LedgerError(f"no block {block} on the ledger")
        return int(found["timestamp"], 16)

    def send_raw_transaction(self, raw: bytes) -> bytes:
        try:
            return bytes.fromhex(self._request("eth_sendRawTransaction", ["0x" + raw.hex()])[2:])
        except LedgerError as exc:
            if exc.details.get("rpc_code") in (None, METHOD_NOT_FOUND):
                raise  # the node is unreachable, not refusing this transaction
            error = {"code": exc.details["rpc_code"], "message": exc.details["rpc_message"]}
            cannot = error["code"] == NODE_CANNOT_SUBMIT  # a learner, a node not allowed yet
            refused = NodeCannotSubmit if cannot else TransactionRefused
            raise refused(str(error["message"]), details={"rpc_error": error}) from None

    def get_transaction_receipt(self, tx_hash: bytes) -> TxReceipt | None:
        found = self._request("eth_getTransactionReceipt", ["0x" + bytes(tx_hash).hex()])
        return None if found is None else cast(TxReceipt, LazyReceipt(found))

    def get_logs(self, filter_params: FilterParams) -> list[LogReceipt]:
        query = {key: _as_json(value) for key, value in filter_params.items()}
        logs = self._request("eth_getLogs", [query])
        return [cast(LogReceipt, AttributeDict.recursive(format_log_entry(log))) for log in logs]

    def close(self) -> None:
        """Close every thread's kept-alive connection (a thread that sends again opens a
        new one) and web3.py's session."""
        with self._opened_lock:
            opened, self._opened = self._opened, set()
        for connection in opened:
            connection.close()
        super().close()

    def _send(self, method: str, params: list[Any]) -> dict[str, Any]:
        """``method`` over this thread's kept-alive connection (no web3.py pipeline)."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        answer: dict[str, Any] = json.loads(self._post(method, body.encode()))
        return answer

    def _post(self, method: str, body: bytes) -> bytes:
        for attempt in (1, 2):
            connection: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
            if connection is not None and connection not in self._opened:
                connection = None  # closed by close(): open a new one, tracked again
            reused = connection is not None
            if connection is None:
                connection = http.client.HTTPConnection(
                    self._host, self._port, timeout=REQUEST_TIMEOUT
                )
                self._local.conn = connection
                with self._opened_lock:
                    self._opened.add(connection)
            try:
                connection.request("POST", "/", body, self._headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._local.conn = None
                with self._opened_lock:
                    self._opened.discard(connection)
                # a kept-alive connection the node closed meanwhile: once more on a new one
                if reused and attempt == 1 and isinstance(exc, _STALE):
                    continue
                raise LedgerUnreachable(
                    f"the JSON-RPC node at {self.url} did not answer {method}: "
                    f"{type(exc).__name__}: {exc}",
                    details={"url": self.url, "method": method},
                ) from exc
            if response.status != 200:
                raise LedgerError(
                    f"the JSON-RPC node at {self.url} answered {method} with HTTP "
                    f"{response.status}",
                    details={"url": self.url, "method": method},
                )
            return payload
        raise AssertionError("unreachable")

    def wait_for_transaction_receipt(
        self, tx_hash: bytes, timeout: float = 30.0, poll: float = 0.01
    ) -> TxReceipt:
        hex_hash = "0x" + bytes(tx_hash).hex()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReceiptTimeout(
                    f"no receipt for transaction {hex_hash} after {timeout}s",
                    details={"tx_hash": hex_hash},
                )
            try:
                found = self._request(
                    "scf_waitForTransactionReceipt", [hex_hash, min(remaining, WAIT_PER_REQUEST)]
                )
            except LedgerError as exc:
                if exc.details.get("rpc_code") != TRANSACTION_DROPPED:
                    raise
                message = str(exc.details.get("rpc_message", ""))
                reason = message.removeprefix("dropped from its block: ")
                raise TransactionDropped(
                    f"transaction {hex_hash} was dropped from its block: {reason}",
                    details={"tx_hash": hex_hash, "reason": reason},
                ) from None
            if found is not None:
                return cast(TxReceipt, LazyReceipt(found))

    def fund(self, address: str, wei: int) -> None:
        """Development funding from the dev faucet (an ``EmbeddedLedger --dev`` account; a
        production ledger has none and refuses it)."""
        fund_from_faucet(self, address, wei)

    def dropped_reason(self, tx_hash: bytes) -> str | None:
        reason: Any = self._request("scf_droppedReason", ["0x" + bytes(tx_hash).hex()])
        return None if reason is None else str(reason)

    def revert_of(self, tx: TxParams, receipt: TxReceipt) -> ContractRevert:
        """The custom error from the receipt's revert data; a replay for blocks the node
        no longer held in memory when it answered."""
        reason = cast(dict[str, Any], receipt).get("revertReason")
        if not isinstance(reason, str):
            return super().revert_of(tx, receipt)
        data = bytes.fromhex(reason.removeprefix("0x"))
        return decode_revert(data, tx_hash=bytes(receipt["transactionHash"]))
