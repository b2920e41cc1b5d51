"""Decode revert data into the custom error that the contract raised.

Selectors come from the ABIs of every artifact, so an error raised by a
contract deep in a call (a registry check bubbling up through a business
contract) is still named precisely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector

from chain.artifacts import Artifact, all_artifacts
from chain.errors import ContractRevert

_ERROR_STRING = ("Error", ("message",), ("string",))
_PANIC = ("Panic", ("code",), ("uint256",))


@dataclass(frozen=True)
class ErrorSpec:
    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]


def abi_type_of(item: dict[str, Any]) -> str:
    """Canonical ABI type of an input, expanding tuples (structs)."""
    kind: str = item["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type_of(c) for c in item["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def error_table(artifacts: Iterable[Artifact]) -> dict[bytes, ErrorSpec]:
    table: dict[bytes, ErrorSpec] = {}
    for name, arg_names, arg_types in (_ERROR_STRING, _PANIC):
        selector = function_signature_to_4byte_selector(f"{name}({','.join(arg_types)})")
        table[selector] = ErrorSpec(name, arg_names, arg_types)
    for artifact in artifacts:
        for item in artifact.abi:
            if item["type"] != "error":
                continue
            types = tuple(abi_type_of(i) for i in item["inputs"])
            names = tuple(i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"]))
            selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
            table[selector] = ErrorSpec(item["name"], names, types)
    return table


@cache
def _default_table() -> dict[bytes, ErrorSpec]:
    return error_table(all_artifacts())


def decode_revert(data: bytes, *, tx_hash: bytes | None = None) -> ContractRevert:
    """The ``ContractRevert`` for revert ``data``; unknown or empty data is named as such."""
    if len(data) < 4:
        return ContractRevert("EmptyRevert", data=data, tx_hash=tx_hash)
    spec = _default_table().get(data[:4])
    if spec is None:
        return ContractRevert("UnknownError", {"data": data}, data=data, tx_hash=tx_hash)
    try:
        values = abi_decode(list(spec.arg_types), data[4:])
    except Exception:  # malformed payload for a known selector: keep the raw bytes
        return ContractRevert(spec.name, {"data": data[4:]}, data=data, tx_hash=tx_hash)
    return ContractRevert(
        spec.name, dict(zip(spec.arg_names, values, strict=True)), data=data, tx_hash=tx_hash
    )
