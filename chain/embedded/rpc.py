"""Ethereum JSON-RPC for the embedded node.

``RpcHandler.handle(method, params)`` returns a JSON-ready result or raises
``RpcError``; the HTTP server and the in-process web3 provider both call it,
so there is one implementation of the wire format. Development methods
(``evm_*``) answer only when the node was started with ``dev=True``.

Reads never wait for the block producer: they use the node's committed view
(``node.head``, ``node.reader``, ``node.state_at``) and its recently sealed
blocks, whose receipts are formatted once and then served from memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.exceptions import BlockNotFound, HeaderNotFound, OutOfGas, Revert, VMError
from eth.vm.forks.prague.constants import SET_CODE_TRANSACTION_TYPE
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak

from chain.embedded.calls import CallTimeout, deadline
from chain.embedded.node import EmbeddedNode, TransactionRejected
from chain.embedded.pyevm_internals import contract_address
from chain.embedded.sealed import SealedBlock
from chain.embedded.vm import BASE_FEE

CLIENT_VERSION = "scf-chain/0.1.0/py-evm"
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
SERVER_ERROR = -32000
TRANSACTION_DROPPED = -32003  # as geth answers a transaction it will not include
# EIP-1474 "resource unavailable": this node takes no transactions (a consortium learner,
# or a node not on the NodeRegistry allow-list yet); the API answers node_cannot_submit
NODE_CANNOT_SUBMIT = -32002
MAX_RECEIPT_WAIT = 60.0  # seconds one scf_waitForTransactionReceipt request may wait
EXECUTION_REVERTED = 3
ZERO_HASH = "0x" + "00" * 32
MAX_QUANTITY = 2**256 - 1  # an EVM word: no quantity of a request is larger


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def qty(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def parse_qty(value: str | int) -> int:
    """A quantity: ``0x``-hex (or a JSON integer), 0 up to an EVM word."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.startswith("0x") and len(value) <= 66:
        try:
            number = int(value, 16)
        except ValueError:
            raise RpcError(INVALID_PARAMS, f"not a hex quantity: {value[:80]!r}") from None
    else:
        raise RpcError(INVALID_PARAMS, f"not a hex quantity: {str(value)[:80]!r}")
    if not 0 <= number <= MAX_QUANTITY:
        raise RpcError(INVALID_PARAMS, f"quantity out of range: {str(value)[:80]!r}")
    return number


def parse_address(value: object) -> Address:
    """A 20-byte address in hex (checksummed or not)."""
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, f"not an address: {str(value)[:80]!r}")
    try:
        return Address(to_canonical_address(value))
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"not an address: {value[:80]!r}") from None


def parse_data(value: str | None) -> bytes:
    if value is None:
        return b""
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except (AttributeError, TypeError, ValueError):
        raise RpcError(INVALID_PARAMS, f"not hex data: {str(value)[:80]!r}") from None


class RpcHandler:
    def __init__(self, node: EmbeddedNode, *, dev: bool = False) -> None:
        self.node = node
        self.dev = dev
        self._methods: dict[str, Callable[..., Any]] = {
            "web3_clientVersion": lambda: CLIENT_VERSION,
            "web3_sha3": lambda value: data(keccak(parse_data(value))),
            "net_version": lambda: str(self.node.config.chain_id),
            "net_listening": lambda: True,
            "net_peerCount": lambda: qty(0),
            "eth_chainId": lambda: qty(self.node.config.chain_id),
            "eth_syncing": lambda: False,
            "eth_mining": lambda: True,
            "eth_accounts": lambda: [],
            "eth_coinbase": lambda: "0x" + "00" * 20,
            "eth_blockNumber": lambda: qty(self.node.head.block_number),
            "eth_gasPrice": lambda: qty(BASE_FEE),  # the next block's base fee: no tip
            "eth_maxPriorityFeePerGas": lambda: qty(0),
            "eth_feeHistory": self._fee_history,
            "eth_getBalance": self._get_balance,
            "eth_getTransactionCount": self._get_transaction_count,
            "eth_getCode": self._get_code,
            "eth_getStorageAt": self._get_storage_at,
            "eth_call": self._call,
            "eth_estimateGas": self._estimate_gas,
            "eth_sendRawTransaction": self._send_raw_transaction,
            "eth_getTransactionByHash": self._get_transaction_by_hash,
            "eth_getRawTransactionByHash": self._get_raw_transaction_by_hash,
            "eth_getTransactionReceipt": self._get_transaction_receipt,
            "eth_getBlockByNumber": self._get_block_by_number,
            "eth_getBlockByHash": self._get_block_by_hash,
            "eth_getBlockTransactionCountByNumber": self._block_tx_count,
            "eth_getLogs": self._get_logs,
            # geth's pool summary (scf-node status shows it): queued = waiting for a block
            "txpool_status": lambda: {"pending": qty(self.node.pending_count()), "queued": qty(0)},
            # SCF extensions, for the node's own REST API in its other process
            "scf_waitForTransactionReceipt": self._wait_for_transaction_receipt,
            "scf_droppedReason": self._dropped_reason,
            # blocks and transactions sealed over the last minute of this machine's clock
            "scf_blockProduction": lambda: self.node.block_rate.measure()._asdict(),
        }
        self._dev_methods: dict[str, Callable[..., Any]] = {
            "evm_increaseTime": self._increase_time,
            "evm_mine": self._mine,
            "evm_snapshot": self._snapshot,
            "evm_revert": self._revert,
        }
        self._snapshots: dict[int, bytes] = {}  # snapshot id -> block hash
        self._next_snapshot = 1
        self._snapshot_lock = threading.Lock()

    def register(self, method: str, fn: Callable[..., Any]) -> None:
        """Answer ``method`` with ``fn`` too: what a consortium node serves its peers
        (``chain.consortium.peers``). A method the handler answers already stays."""
        if method in self._methods or method in self._dev_methods:
            raise ValueError(f"the JSON-RPC method {method} is answered already")
        self._methods[method] = fn

    def handle(self, method: str, params: list[Any] | None) -> Any:
        fn = self._methods.get(method)
        if fn is None and self.dev:
            fn = self._dev_methods.get(method)
        if fn is None:
            raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        try:
            return fn(*(params or []))
        except TypeError as exc:
            raise RpcError(INVALID_PARAMS, f"invalid parameters for {method}: {exc}") from None

    # ---- blocks -------------------------------------------------------------------------
    def _header(self, block_id: str | int = "latest") -> BlockHeaderAPI:
        head = self.node.head
        if block_id in ("latest", "pending", "safe", "finalized"):
            return head
        number = 0 if block_id == "earliest" else parse_qty(block_id)
        if number > head.block_number:
            raise RpcError(SERVER_ERROR, f"block {number} not found")
        try:
            return self.node.reader.get_canonical_block_header_by_number(BlockNumber(number))
        except HeaderNotFound:
            raise RpcError(SERVER_ERROR, f"block {number} not found") from None

    def _sealed(self, number: int) -> SealedBlock:
        try:
            return self.node.sealed_block(number)
        except (HeaderNotFound, BlockNotFound):
            raise RpcError(SERVER_ERROR, f"block {number} not found") from None

    def _block(self, number: int) -> BlockAPI:
        return self._sealed(number).block

    def _get_block_by_number(self, block_id: str, full: bool = False) -> dict[str, Any] | None:
        try:
            header = self._header(block_id)
        except RpcError:
            return None
        return self._format_block(self._block(header.block_number), full)

    def _get_block_by_hash(self, block_hash: str, full: bool = False) -> dict[str, Any] | None:
        reader = self.node.reader
        try:
            header = reader.get_block_header_by_hash(Hash32(parse_data(block_hash)))
            canonical = reader.get_canonical_block_header_by_number(header.block_number)
        except HeaderNotFound:
            return None
        if canonical.hash != header.hash:
            return None
        return self._format_block(self._block(header.block_number), full)

    def _block_tx_count(self, block_id: str) -> str:
        return qty(len(self._block(self._header(block_id).block_number).transactions))

    def _format_block(self, block: BlockAPI, full: bool) -> dict[str, Any]:
        h = block.header
        txs: list[Any] = (
            [self._format_tx(tx, block, i) for i, tx in enumerate(block.transactions)]
            if full
            else [data(tx.hash) for tx in block.transactions]
        )
        result: dict[str, Any] = {
            "number": qty(h.block_number),
            "hash": data(h.hash),
            "parentHash": data(h.parent_hash),
            "nonce": data(h.nonce),
            "sha3Uncles": data(h.uncles_hash),
            "logsBloom": data(h.bloom.to_bytes(256, "big")),
            "transactionsRoot": data(h.transaction_root),
            "stateRoot": data(h.state_root),
            "receiptsRoot": data(h.receipt_root),
            "miner": to_checksum_address(h.coinbase),
            "difficulty": qty(h.difficulty),
            "totalDifficulty": qty(0),
            "extraData": data(h.extra_data),
            "size": qty(len(block.header.hash) + 512),
            "gasLimit": qty(h.gas_limit),
            "gasUsed": qty(h.gas_used),
            "timestamp": qty(h.timestamp),
            "mixHash": data(h.mix_hash),
            "baseFeePerGas": qty(int(getattr(h, "base_fee_per_gas", 0) or 0)),
            "transactions": txs,
            "uncles": [],
        }
        for field, name in (
            ("withdrawals_root", "withdrawalsRoot"),
            ("parent_beacon_block_root", "parentBeaconBlockRoot"),
            ("requests_hash", "requestsHash"),
        ):
            value = getattr(h, field, None)
            if value is not None:
                result[name] = data(value)
        for field, name in (("blob_gas_used", "blobGasUsed"), ("excess_blob_gas", "excessBlobGas")):
            value = getattr(h, field, None)
            if value is not None:
                result[name] = qty(value)
        if hasattr(h, "withdrawals_root"):
            result["withdrawals"] = []
        return result

    # ---- transactions -------------------------------------------------------------------
    def _format_tx(self, tx: SignedTransactionAPI, block: BlockAPI, index: int) -> dict[str, Any]:
        type_id = tx.type_id if tx.type_id is not None else 0
        result: dict[str, Any] = {
            "hash": data(tx.hash),
            "type": qty(type_id),
            "nonce": qty(tx.nonce),
            "blockHash": data(block.header.hash),
            "blockNumber": qty(block.header.block_number),
            "transactionIndex": qty(index),
            "from": to_checksum_address(tx.sender),
            "to": to_checksum_address(tx.to) if tx.to else None,
            "value": qty(tx.value),
            "gas": qty(tx.gas),
            "input": data(tx.data),
            "r": qty(tx.r),
            "s": qty(tx.s),
            "v": qty(tx.y_parity if type_id else getattr(tx, "v", tx.y_parity)),
        }
        if type_id >= 2:  # dynamic fees (and, mined before the node refused them, types 3, 4)
            result["maxFeePerGas"] = qty(tx.max_fee_per_gas)
            result["maxPriorityFeePerGas"] = qty(tx.max_priority_fee_per_gas)
            result["gasPrice"] = qty(0)  # what it paid: the consortium charges no fees
        else:
            result["gasPrice"] = qty(tx.gas_price)
        if type_id == SET_CODE_TRANSACTION_TYPE:
            result["authorizationList"] = [
                {
                    "chainId": qty(auth.chain_id),
                    "address": to_checksum_address(auth.address),
                    "nonce": qty(auth.nonce),
                    "yParity": qty(auth.y_parity),
                    "r": qty(auth.r),
                    "s": qty(auth.s),
                }
                for auth in tx.authorization_list
            ]
        if type_id:
            result["chainId"] = qty(tx.chain_id or 0)
            result["yParity"] = qty(tx.y_parity)
            result["accessList"] = [
                {
                    "address": to_checksum_address(a),
                    "storageKeys": [data(k.to_bytes(32, "big")) for k in keys],
                }
                for a, keys in tx.access_list
            ]
        return result

    def _get_transaction_by_hash(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.node.locate(parse_data(tx_hash))
        if found is None:
            return None
        sealed, index = found
        return self._format_tx(sealed.block.transactions[index], sealed.block, index)

    def _get_raw_transaction_by_hash(self, tx_hash: str) -> str | None:
        """The signed transaction as ``eth_sendRawTransaction`` took it (typed: its type
        byte and payload), for a mined transaction."""
        found = self.node.locate(parse_data(tx_hash))
        if found is None:
            return None
        sealed, index = found
        return data(sealed.block.transactions[index].encode())

    def _get_transaction_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.node.locate(parse_data(tx_hash))
        if found is None:
            return None
        sealed, index = found
        formatted = sealed.formatted.get(index)
        if formatted is None:  # formatted once per transaction; races only repeat the work
            formatted = sealed.formatted[index] = self._format_receipt(sealed, index)
        return dict(formatted)

    def _wait_for_transaction_receipt(
        self, tx_hash: str, timeout: float | int | str = MAX_RECEIPT_WAIT
    ) -> dict[str, Any] | None:
        """``scf_waitForTransactionReceipt``: the receipt as soon as the transaction is in a
        block, ``null`` after ``timeout`` seconds (at most ``MAX_RECEIPT_WAIT``) without
        one; a transaction the node dropped while building its block answers error -32003
        with the reason. One request instead of polling for a block."""
        wanted = parse_data(tx_hash)
        self.node.wait_for_block_after(wanted, min(float(timeout), MAX_RECEIPT_WAIT))
        receipt = self._get_transaction_receipt(tx_hash)
        if receipt is None:
            reason = self.node.rejection_of(wanted)
            if reason is not None:
                raise RpcError(TRANSACTION_DROPPED, f"dropped from its block: {reason}")
        return receipt

    def _dropped_reason(self, tx_hash: str) -> str | None:
        """``scf_droppedReason``: why the node left an accepted transaction out of its
        block, or ``null``."""
        return self.node.rejection_of(parse_data(tx_hash))

    def _format_receipt(self, sealed: SealedBlock, index: int) -> dict[str, Any]:
        block, receipts = sealed.block, sealed.receipts
        tx = block.transactions[index]
        receipt = receipts[index]
        previous = receipts[index - 1].gas_used if index else 0
        first_log = sealed.first_logs[index]
        type_id = tx.type_id if tx.type_id is not None else 0
        contract = None
        if not tx.to:
            contract = to_checksum_address(contract_address(tx.sender, tx.nonce))
        return {
            "transactionHash": data(tx.hash),
            "transactionIndex": qty(index),
            "blockHash": data(block.header.hash),
            "blockNumber": qty(block.header.block_number),
            "from": to_checksum_address(tx.sender),
            "to": to_checksum_address(tx.to) if tx.to else None,
            "cumulativeGasUsed": qty(receipt.gas_used),
            "gasUsed": qty(receipt.gas_used - previous),
            "effectiveGasPrice": qty(0),  # the consortium charges no fees (chain.embedded.vm)
            "contractAddress": contract,
            "logs": [
                self._format_log(log, block, tx, index, first_log + n)
                for n, log in enumerate(receipt.logs)
            ],
            "logsBloom": data(receipt.bloom.to_bytes(256, "big")),
            "status": qty(1 if receipt.state_root == b"\x01" else 0),
            "type": qty(type_id),
        } | (self._revert_reason(sealed, tx) if receipt.state_root != b"\x01" else {})

    @staticmethod
    def _revert_reason(sealed: SealedBlock, tx: SignedTransactionAPI) -> dict[str, Any]:
        """A failed transaction's revert data as the producer saw it, under Besu's name
        ``revertReason``: a client learns the exact custom error without replaying the
        call (a replay on the parent state misses a revert an earlier transaction of
        the same block caused). Absent for blocks the node no longer holds in memory."""
        output = sealed.revert_output(bytes(tx.hash))
        return {} if output is None else {"revertReason": data(output)}

    @staticmethod
    def _format_log(
        log: Any, block: BlockAPI, tx: SignedTransactionAPI, tx_index: int, log_index: int
    ) -> dict[str, Any]:
        return {
            "address": to_checksum_address(log.address),
            "topics": [data(t.to_bytes(32, "big")) for t in log.topics],
            "data": data(log.data),
            "blockNumber": qty(block.header.block_number),
            "blockHash": data(block.header.hash),
            "transactionHash": data(tx.hash),
            "transactionIndex": qty(tx_index),
            "logIndex": qty(log_index),
            "removed": False,
        }

    def _send_raw_transaction(self, raw: str) -> str:
        try:
            return data(self.node.submit(parse_data(raw)))
        except TransactionRejected as exc:
            raise RpcError(exc.code, str(exc)) from None

    # ---- state --------------------------------------------------------------------------
    def _state_at(self, block_id: str | int) -> Any:
        return self.node.state_at(self._header(block_id))

    def _get_balance(self, address: str, block_id: str = "latest") -> str:
        return qty(self._state_at(block_id).get_balance(parse_address(address)))

    def _get_transaction_count(self, address: str, block_id: str = "latest") -> str:
        canonical = parse_address(address)
        if block_id in ("pending", "latest"):
            return qty(self.node.nonce_of(canonical, pending=block_id == "pending"))
        return qty(self._state_at(block_id).get_nonce(canonical))

    def _get_code(self, address: str, block_id: str = "latest") -> str:
        return data(self._state_at(block_id).get_code(parse_address(address)))

    def _get_storage_at(self, address: str, slot: str, block_id: str = "latest") -> str:
        value = self._state_at(block_id).get_storage(parse_address(address), parse_qty(slot))
        return data(int(value).to_bytes(32, "big"))

    def _spoof(self, params: object, header: BlockHeaderAPI) -> SignedTransactionAPI:
        """The call ``params`` as a transaction from their ``from``, with at most the node's
        call gas cap (more asked for is lowered to it, as geth's ``RPCGasCap``)."""
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "the call must be an object with to, data, ...")
        sender = parse_address(params["from"]) if params.get("from") else Address(b"\0" * 20)
        cap = self.node.config.max_call_gas
        gas = min(parse_qty(params["gas"]), cap) if params.get("gas") else cap
        vm = self.node.reader.get_vm(header)
        unsigned = vm.create_unsigned_transaction(
            nonce=vm.state.get_nonce(sender),
            gas_price=0,
            gas=gas,
            to=parse_address(params["to"]) if params.get("to") else Address(b""),
            value=parse_qty(params.get("value", 0) or 0),
            data=parse_data(params.get("data") or params.get("input")),
        )
        if unsigned.intrinsic_gas > gas:  # py-evm would fail on a negative message gas
            raise RpcError(
                SERVER_ERROR, f"intrinsic gas too low: have {gas}, want {unsigned.intrinsic_gas}"
            )
        # py-evm executes a SpoofTransaction as if signed by ``from_``.
        return cast(SignedTransactionAPI, SpoofTransaction(unsigned, from_=sender))

    def _call(self, params: dict[str, Any], block_id: str = "latest") -> str:
        reader = self.node.reader
        header = self._header(block_id)
        # Execute on top of the block, as its successor would see the state.
        base = reader.create_header_from_parent(header, timestamp=self._now(header))
        transaction = self._spoof(params, header)
        try:
            with deadline(self.node.config.max_call_seconds):
                return data(reader.get_transaction_result(transaction, base))
        except Revert as exc:
            raise self._reverted(exc) from None
        except (VMError, CallTimeout) as exc:
            raise self._failed(exc, transaction.gas) from None

    def _estimate_gas(self, params: dict[str, Any], block_id: str = "latest") -> str:
        reader = self.node.reader
        header = self._header(block_id)
        base = reader.create_header_from_parent(header, timestamp=self._now(header))
        transaction = self._spoof(params, header)
        try:
            with deadline(self.node.config.max_call_seconds):
                return qty(reader.estimate_gas(transaction, base))
        except Revert as exc:
            raise self._reverted(exc) from None
        except OutOfGas:  # with all the gas it may have
            raise RpcError(
                SERVER_ERROR, f"gas required exceeds allowance ({transaction.gas})"
            ) from None
        except (VMError, CallTimeout) as exc:
            raise self._failed(exc, transaction.gas) from None

    def _failed(self, exc: Exception, gas: int) -> RpcError:
        """A call that failed other than by reverting, as geth words it."""
        if isinstance(exc, CallTimeout):
            limit = self.node.config.max_call_seconds
            return RpcError(SERVER_ERROR, f"execution aborted (timeout = {limit:g}s)")
        if isinstance(exc, OutOfGas):
            return RpcError(SERVER_ERROR, f"out of gas (the call had {gas})")
        return RpcError(SERVER_ERROR, f"execution failed: {type(exc).__name__}: {exc}"[:300])

    def _now(self, header: BlockHeaderAPI) -> int:
        return max(self.node.clock.now(), header.timestamp)

    @staticmethod
    def _reverted(exc: Revert) -> RpcError:
        payload = exc.args[0] if exc.args and isinstance(exc.args[0], bytes) else b""
        return RpcError(EXECUTION_REVERTED, "execution reverted", data(payload))

    # ---- logs ---------------------------------------------------------------------------
    def _get_logs(self, flt: dict[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(flt, dict):
            raise RpcError(INVALID_PARAMS, "the filter must be an object with fromBlock, ...")
        if flt.get("blockHash"):
            found_block = self._get_block_by_hash(flt["blockHash"])
            if found_block is None:
                return []
            start = end = parse_qty(found_block["number"])
        else:
            start = self._header(flt.get("fromBlock", "latest")).block_number
            end = self._header(flt.get("toBlock", "latest")).block_number
        addresses = flt.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        wanted = {bytes(parse_address(a)) for a in addresses} if addresses else None
        topics = [
            None if t is None else {parse_data(x) for x in ([t] if isinstance(t, str) else t)}
            for t in flt.get("topics") or []
        ]
        found: list[dict[str, Any]] = []
        for number in range(start, end + 1):
            header = self._header(number)
            if header.bloom == 0:  # no logs in this block: skip it unread
                continue
            sealed = self._sealed(number)
            block, receipts = sealed.block, sealed.receipts
            log_index = 0
            for tx_index, receipt in enumerate(receipts):
                for log in receipt.logs:
                    if self._matches(log, wanted, topics):
                        found.append(
                            self._format_log(
                                log, block, block.transactions[tx_index], tx_index, log_index
                            )
                        )
                    log_index += 1
        return found

    @staticmethod
    def _matches(log: Any, wanted: set[bytes] | None, topics: list[set[bytes] | None]) -> bool:
        if wanted is not None and log.address not in wanted:
            return False
        if len(topics) > len(log.topics):
            return False
        return all(
            options is None or log.topics[i].to_bytes(32, "big") in options
            for i, options in enumerate(topics)
        )

    def _fee_history(
        self, count: str | int, newest: str, percentiles: list[float] | None = None
    ) -> dict[str, Any]:
        blocks = max(1, min(parse_qty(count), 1024))
        end = self._header(newest).block_number
        first = max(0, end - blocks + 1)
        headers = [self._header(n) for n in range(first, end + 1)]
        return {
            "oldestBlock": qty(first),
            "baseFeePerGas": [qty(int(getattr(h, "base_fee_per_gas", 0) or 0)) for h in headers]
            + [qty(BASE_FEE)],  # the next block's
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
            "reward": [[qty(0) for _ in (percentiles or [])] for _ in headers],
        }

    # ---- development --------------------------------------------------------------------
    def _increase_time(self, seconds: str | int) -> str:
        """``evm_increaseTime``: the new offset, stored with the chain (a restart keeps it)."""
        added = parse_qty(seconds) if isinstance(seconds, str) else int(seconds)
        return qty(self.node.clock.increase(added))

    def _mine(self, timestamp: str | int | None = None) -> str:
        ts = (
            None
            if timestamp is None
            else parse_qty(timestamp)
            if isinstance(timestamp, str)
            else int(timestamp)
        )
        self.node.mine(ts)
        return "0x0"

    def _snapshot(self) -> str:
        """Remember the head (after sealing what is queued); ids count up like anvil's."""
        with self._snapshot_lock:
            head = self.node.settle()
            snapshot_id = self._next_snapshot
            self._next_snapshot += 1
            self._snapshots[snapshot_id] = bytes(head.hash)
            return qty(snapshot_id)

    def _revert(self, snapshot_id: str | int) -> bool:
        """Make the snapshot's block the head; it and later snapshots are used up."""
        wanted = parse_qty(snapshot_id)
        with self._snapshot_lock:
            block_hash = self._snapshots.get(wanted)
            if block_hash is None:
                return False
            for later in [n for n in self._snapshots if n >= wanted]:
                del self._snapshots[later]
            try:
                self.node.rewind(block_hash)
            except LookupError:
                return False
            return True
