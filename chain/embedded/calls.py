"""Bounds on ``eth_call`` and ``eth_estimateGas``: a gas cap and a wall-clock deadline.

A call executes on the ledger process's CPU like a transaction, but nobody pays for it
and nothing admits it: at the block gas limit (10^9) an endless loop ran ~9 minutes per
call, and four such calls slowed every member's writes for as long. So:

- a call gets at most the node's call gas cap (``max_call_gas``, default the
  per-transaction cap of ``chain.embedded.rules``): more asked for is lowered to it, as
  geth's ``RPCGasCap`` does, and ``eth_estimateGas`` searches up to it instead of up to
  the block gas limit (py-evm's estimator would try the block gas limit first);
- a call ends after ``max_call_seconds`` of wall-clock time (``CallTimeout``). The
  deadline is checked at every jump, call and create of the call's EVM: no loop runs
  without a jump, and no recursion without a call. Code without either is at most one
  contract's code long. One precompile call is not interrupted (see docs/operations.md
  for the measured bound).

The checks live in the VM class the node's *read* chain uses (``ScfCallVM``); the block
producer and ``verify`` run ``ScfPragueVM`` unchanged, so no block depends on a clock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from eth.abc import OpcodeAPI, SignedTransactionAPI, StateAPI
from eth.exceptions import VMError
from eth.vm import opcode_values as op
from eth.vm.spoof import SpoofTransaction
from eth_utils.exceptions import ValidationError

from chain.embedded.rules import DEFAULT_MAX_TRANSACTION_GAS, check_max_transaction_gas
from chain.embedded.vm import ScfPragueComputation, ScfPragueState, ScfPragueVM

DEFAULT_MAX_CALL_GAS = DEFAULT_MAX_TRANSACTION_GAS
DEFAULT_MAX_CALL_SECONDS = 5.0
MAX_CALL_SECONDS = 60.0  # a larger setting would let one request hold a thread that long
# as geth: an estimate may exceed the exact need by 1.5 % (callers add their own margin)
ESTIMATE_ERROR_RATIO = 0.015
CALL_STIPEND = 2_300  # gas a value-carrying call hands its callee for free

# Where execution can go back or deeper: every unbounded amount of work passes one.
_CHECKPOINTS = (
    op.JUMP,
    op.JUMPI,
    op.CALL,
    op.CALLCODE,
    op.DELEGATECALL,
    op.STATICCALL,
    op.CREATE,
    op.CREATE2,
)


class CallTimeout(Exception):
    """A call ran past its deadline. Not a ``VMError`` on purpose: py-evm turns those
    into a failed frame and lets the caller's frame go on; this one ends the execution."""


class _Deadline(threading.local):
    at = math.inf  # monotonic seconds; no deadline outside ``deadline``


_deadline = _Deadline()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls executed by this thread inside the block end after ``seconds``."""
    previous = _deadline.at
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = previous


class _Checkpoint:
    """An opcode that first checks the thread's deadline."""

    __slots__ = ("_opcode", "gas_cost", "mnemonic")

    def __init__(self, opcode: OpcodeAPI) -> None:
        self._opcode = opcode
        self.mnemonic = opcode.mnemonic
        self.gas_cost: int = getattr(opcode, "gas_cost", 0)  # for debug tools only

    def __call__(self, computation: Any) -> None:
        if time.monotonic() > _deadline.at:
            raise CallTimeout(f"the call ran past its deadline (at {self.mnemonic})")
        self._opcode(computation=computation)


def _with_checkpoints(opcodes: dict[int, OpcodeAPI]) -> dict[int, OpcodeAPI]:
    return {
        code: cast(OpcodeAPI, _Checkpoint(opcode)) if code in _CHECKPOINTS else opcode
        for code, opcode in opcodes.items()
    }


class ScfCallComputation(ScfPragueComputation):
    opcodes = _with_checkpoints(ScfPragueComputation.opcodes)


class ScfCallState(ScfPragueState):
    computation_class = ScfCallComputation


class ScfCallVM(ScfPragueVM):
    """The ledger's VM for calls and estimates: the same rules, with deadline checks."""

    _state_class = ScfCallState


def estimate_within_cap(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """The gas ``transaction`` needs, at most its own gas (the call cap), never the block
    gas limit; raises the execution's error when it fails even with all of it."""
    return search_gas(state, transaction, transaction.gas)


def estimate_within_block(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """As py-evm's estimators: at most the block gas limit, whatever gas ``transaction``
    names (eth-tester's ``estimate_gas`` sends 21,000)."""
    return search_gas(state, transaction, state.gas_limit)


def search_gas(state: StateAPI, transaction: SignedTransactionAPI, high: int) -> int:
    """The gas ``transaction`` needs, at most ``high``; raises the execution's error when
    it fails even with all of it.

    geth's estimator (eth/gasestimator): one execution with all the gas says what the
    transaction consumed; the 63/64ths a call keeps back make that a little short, so the
    next probe is that plus a stipend and the 64th, which is usually enough; the search
    then stops within ``ESTIMATE_ERROR_RATIO`` of the exact need. Two or three executions
    where py-evm's search from the intrinsic gas took a dozen.
    """
    error, consumed = _gas_consumed(state, _with_gas(transaction, high))
    if error is not None:
        raise error
    if consumed == transaction.intrinsic_gas:  # no code ran (a transfer): nothing to search
        return consumed
    low = consumed - 1  # known to fail below what it used
    optimistic = (consumed + CALL_STIPEND) * 64 // 63
    if optimistic < high:
        if _succeeds(state, transaction, optimistic):
            high = optimistic
        else:
            low = optimistic
    while low + 1 < high and (high - low) > high * ESTIMATE_ERROR_RATIO:
        # geth's nudge: most transactions need little more than they consumed
        middle = min((high + low) // 2, 2 * low)
        if _succeeds(state, transaction, middle):
            high = middle
        else:
            low = middle
    return high


def _gas_consumed(state: StateAPI, transaction: SignedTransactionAPI) -> tuple[VMError | None, int]:
    """Execute ``transaction`` on ``state``, undone afterwards: its error (None: it
    succeeded) and the gas it consumed before refunds, intrinsic gas included."""
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(transaction)
        error = computation.error if computation.is_error else None
        return error, transaction.intrinsic_gas + computation.get_gas_used()
    finally:
        state.revert(snapshot)


def _succeeds(state: StateAPI, transaction: SignedTransactionAPI, gas: int) -> bool:
    try:
        error, _ = _gas_consumed(state, _with_gas(transaction, gas))
        return error is None
    except ValidationError:  # below what the fork lets a transaction start with
        return False


def _with_gas(transaction: SignedTransactionAPI, gas: int) -> SignedTransactionAPI:
    return cast(SignedTransactionAPI, SpoofTransaction(transaction, gas=gas))


def check_max_call_gas(value: object) -> int:
    """``value`` as a call gas cap (the range of a transaction's cap)."""
    try:
        return check_max_transaction_gas(value)
    except ValueError as exc:
        raise ValueError(str(exc).replace("transaction gas cap", "call gas cap")) from None


def check_max_call_seconds(value: object) -> float:
    """``value`` as a call's time limit in seconds: above 0, at most ``MAX_CALL_SECONDS``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_CALL_SECONDS
    ):
        raise ValueError(
            f"a call's time limit must be a number of seconds above 0 and at most "
            f"{MAX_CALL_SECONDS:g}, not {value!r}"
        )
    return float(value)
