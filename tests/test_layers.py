"""Imports point one way (docs/decisions/0014): chain ← api ← nodes ← scripts, and only
the command-line entry points, which wire every layer together, reach up into scripts.

Read from the source (every ``import`` statement, also those inside functions and under
``TYPE_CHECKING``), so a lazy import cannot hide a wrong direction.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("chain", "api", "nodes", "scripts")  # each may import those before it
# The command line: it parses, calls any layer, prints. `scf-node bench` runs scripts.bench.
ENTRY_POINTS = ("nodes.cli", "nodes.commands", "nodes.__main__", "scripts.bench.__main__")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The absolute module names ``path`` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def wrong_direction(module: str, names: set[str]) -> list[str]:
    own = next(layer for layer in LAYERS if is_under(module, layer))
    allowed = LAYERS[: LAYERS.index(own) + 1]
    if any(is_under(module, entry) for entry in ENTRY_POINTS):
        allowed = LAYERS
    return sorted(
        name
        for name in names
        if any(is_under(name, layer) for layer in LAYERS)
        and not any(is_under(name, layer) for layer in allowed)
    )


def sources() -> list[Path]:
    return sorted(path for layer in LAYERS for path in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    assert wrong_direction(module_name(path), imported(path)) == []


def test_below_the_command_line_nothing_imports_it() -> None:
    """The runtime, the PKI and the rest of ``nodes`` (and ``scripts``, apart from its
    own entry points) never import the commands: only the command line sits on top."""
    offenders = [
        f"{module_name(path)} imports {name}"
        for path in sources()
        if not any(is_under(module_name(path), entry) for entry in ENTRY_POINTS)
        for name in imported(path)
        if is_under(name, "nodes.cli") or is_under(name, "nodes.commands")
    ]
    assert offenders == []


def test_the_rule_is_checked_on_a_wrong_import() -> None:
    """The check itself: an upward import is found, an entry point's is allowed."""
    assert wrong_direction("chain.ledger", {"api.app", "chain.errors"}) == ["api.app"]
    assert wrong_direction("nodes.runtime.node", {"scripts.bench"}) == ["scripts.bench"]
    assert wrong_direction("nodes.commands.bench", {"scripts.bench.results"}) == []
