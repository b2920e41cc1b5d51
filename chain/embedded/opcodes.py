"""The ledger's opcode table: py-evm's, with the gas of fixed-cost opcodes charged in place.

py-evm runs every opcode of fixed gas cost (all but calls, creates and the few whose cost
depends on their operands) as a ``_FastOpcode``: ``computation.consume_gas``, which calls
``GasMeter.consume_gas``, then the opcode's logic. A split transfer runs well over a
thousand opcodes, and those two calls per opcode were a measurable share of its execution.

``_MeteredOpcode`` does what ``GasMeter.consume_gas`` does for a cost that is never
negative, in place: the same check, the same ``OutOfGas``. Only py-evm's debug log of
each charge is left out. A differential test runs random code under both tables.
"""

from __future__ import annotations

from typing import Any

from eth.abc import OpcodeAPI
from eth.exceptions import OutOfGas
from eth.vm.opcode import _FastOpcode


class _MeteredOpcode(_FastOpcode):
    """``_FastOpcode`` (a fixed cost, then the logic) with the cost charged in place."""

    __slots__ = ()

    def __call__(self, computation: Any) -> None:  # a ComputationAPI; Any: no cast() call
        meter = computation._gas_meter
        cost = self.gas_cost
        if cost > meter.gas_remaining:
            raise OutOfGas(
                f"Out of gas: Needed {cost} - Remaining {meter.gas_remaining} - "
                f"Reason: {self.mnemonic}"
            )
        meter.gas_remaining -= cost
        self.logic_fn(computation)


def metered_in_place(opcodes: dict[int, OpcodeAPI]) -> dict[int, OpcodeAPI]:
    """``opcodes`` with every ``_FastOpcode`` charging its gas in place."""
    return {
        code: _MeteredOpcode(op.logic_fn, op.mnemonic, op.gas_cost)
        if type(op) is _FastOpcode
        else op
        for code, op in opcodes.items()
    }
