"""Random code runs the same under the ledger's computation (jump destinations analysed once
per code) as under py-evm's own: the same result, error, gas left, output, logs and state."""

from __future__ import annotations

from typing import Any

from eth.db.atomic import AtomicDB
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.message import Message
from eth_typing import Address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.embedded.vm import ScfMiningChain, ScfPragueComputation

CONTRACT = Address(b"\x11" * 20)
SENDER = Address(b"\x22" * 20)
GENESIS: dict[str, Any] = {
    "difficulty": 0,
    "gas_limit": 30_000_000,
    "timestamp": 1_700_000_000,
    "base_fee_per_gas": 0,
    "nonce": b"\0" * 8,
    "mix_hash": b"\0" * 32,
}


class StockComputation(PragueComputation):  # py-evm's own, jump analysis per frame
    pass


def _opcode() -> st.SearchStrategy[bytes]:
    push = st.integers(1, 32).flatmap(
        lambda n: st.binary(min_size=n, max_size=n).map(lambda imm: bytes([0x5F + n]) + imm)
    )
    # stack, arithmetic, memory, storage, jumps, logs, halting: and anything at all
    common = st.sampled_from(
        [
            *range(0x80, 0xA0),  # DUP, SWAP
            *(0x50, 0x01, 0x02, 0x03, 0x04, 0x10, 0x14, 0x15, 0x16, 0x1B, 0x20),
            *(0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x5B),
            *(0xA0, 0xA1, 0x00, 0xF3, 0xFD, 0xFE, 0x30, 0x33, 0x35, 0x36, 0x43),
        ]
    ).map(lambda op: bytes([op]))
    return st.one_of(push, common, common, st.binary(min_size=1, max_size=1))


def _run(code: bytes, gas: int, computation_class: type[PragueComputation]) -> Any:
    chain: Any = ScfMiningChain.from_genesis(
        AtomicDB(), GENESIS, {CONTRACT: {"balance": 0, "nonce": 0, "code": code, "storage": {}}}
    )
    state = chain.get_vm().state
    message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=0, data=b"\x01" * 4, code=code)
    context = state.get_transaction_context_class()(gas_price=0, origin=SENDER)
    computation = computation_class.apply_message(state, message, context)
    error = computation.error if computation.is_error else None
    return (
        type(error).__name__,
        str(error),
        computation.get_gas_remaining(),
        computation.output,
        computation.get_log_entries(),
        state.make_state_root(),
    )


@settings(max_examples=300, deadline=None)
@given(
    stack=st.lists(st.binary(min_size=1, max_size=1), max_size=16),
    ops=st.lists(_opcode(), max_size=60),
    gas=st.integers(0, 60_000),
)
def test_random_code_runs_as_under_py_evm_s_computation(
    stack: list[bytes], ops: list[bytes], gas: int
) -> None:
    # values pushed first, so that most of the random opcodes find what they take
    code = b"".join(b"\x60" + value for value in stack) + b"".join(ops)
    assert _run(code, gas, ScfPragueComputation) == _run(code, gas, StockComputation)


def test_running_out_of_gas_on_a_fixed_cost_opcode_is_py_evm_s_error() -> None:
    code = bytes([0x60, 0x01, 0x60, 0x02, 0x01])  # PUSH1 1, PUSH1 2, ADD: 3 + 3 + 3 gas
    ours = _run(code, 8, ScfPragueComputation)
    assert ours[:3] == ("OutOfGas", "Out of gas: Needed 3 - Remaining 2 - Reason: ADD", 0)
    assert ours == _run(code, 8, StockComputation)
