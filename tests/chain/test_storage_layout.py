"""A proxy keeps its state where the deployed code put it: every storage slot recorded in
contracts/layouts.json (the released layouts, `python -m scripts.storage_layouts`) must be in
the current build unchanged; new variables and struct members may only be appended."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chain.deploy import UPGRADEABLE
from scripts.compile_contracts import storage_layout
from scripts.storage_layouts import LAYOUTS, current_layouts


def released() -> dict[str, list[str]]:
    recorded: dict[str, list[str]] = json.loads(LAYOUTS.read_text("utf-8"))
    return recorded


def test_every_upgradeable_contract_has_a_released_layout() -> None:
    assert sorted(released()) == sorted(UPGRADEABLE)
    assert all(released()[name] for name in UPGRADEABLE)  # each keeps state


@pytest.mark.parametrize("name", UPGRADEABLE)
def test_the_build_keeps_every_released_slot(name: str) -> None:
    current = set(current_layouts()[name])
    moved = [line for line in released()[name] if line not in current]
    assert not moved, (
        f"{name}'s storage moved or changed type; a proxy running the released version would "
        f"read the wrong data after an upgrade: {moved}. Append new variables after the last "
        "one and new struct members at the struct's end."
    )


def _solc_layout(*variables: tuple[str, str]) -> dict[str, Any]:
    """A layout as solc reports it: ``variables`` (label, type id) one slot each."""
    types = {
        "t_uint256": {"encoding": "inplace", "label": "uint256"},
        "t_address": {"encoding": "inplace", "label": "address"},
    }
    storage = [
        {"label": label, "type": type_id, "slot": str(slot), "offset": 0}
        for slot, (label, type_id) in enumerate(variables)
    ]
    return {"storage": storage, "types": types}


def test_an_inserted_variable_moves_the_ones_after_it() -> None:
    released_lines = storage_layout(_solc_layout(("_a", "t_uint256"), ("_b", "t_address")))
    appended = storage_layout(
        _solc_layout(("_a", "t_uint256"), ("_b", "t_address"), ("_c", "t_uint256"))
    )
    inserted = storage_layout(
        _solc_layout(("_a", "t_uint256"), ("_c", "t_uint256"), ("_b", "t_address"))
    )
    assert released_lines == ["0:0 _a uint256", "1:0 _b address"]
    assert set(released_lines) <= set(appended)
    assert set(released_lines) - set(inserted) == {"1:0 _b address"}
