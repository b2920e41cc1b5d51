"""Hypothesis strategies for values of canonical ABI types, as callers pass them."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from web3 import Web3


def abi_values(abi_type: str) -> st.SearchStrategy[Any]:
    """Values of one canonical ABI type, as callers pass them (tuples for structs)."""
    if abi_type.endswith("]"):
        inner, _, size = abi_type[:-1].rpartition("[")
        item = abi_values(inner)
        if size:
            return st.lists(item, min_size=int(size), max_size=int(size))
        return st.lists(item, max_size=3)
    if abi_type.startswith("("):
        return st.tuples(*(abi_values(t) for t in _split(abi_type[1:-1])))
    if abi_type.startswith("uint"):
        return st.integers(0, 2 ** int(abi_type[4:] or 256) - 1)
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if abi_type == "address":
        return st.binary(min_size=20, max_size=20).map(Web3.to_checksum_address)
    if abi_type == "bool":
        return st.booleans()
    if abi_type == "string":
        return st.text(max_size=40)
    if abi_type == "bytes":
        return st.binary(max_size=70)
    if abi_type.startswith("bytes"):
        length = int(abi_type[5:])
        return st.binary(min_size=length, max_size=length)
    raise AssertionError(f"no strategy for {abi_type}")


def _split(types: str) -> list[str]:
    """Top-level components of a tuple's type list."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(types):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(types[start:i])
            start = i + 1
    return [*parts, types[start:]] if types else []
