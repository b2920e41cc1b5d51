"""The private names of py-evm and web3.py the chain layer uses are fenced: each is reached
through one module per library, every one of them still exists in the pinned version, and
an upgrade of either library fails here, naming what to re-check."""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.db.hash_trie import HashTrie
from eth.db.storage import AccountStorageDB, StorageLookup
from eth_typing import Address
from trie.hexary import HexaryTrie

from chain import web3_internals
from chain.embedded import pyevm_internals

ROOT = Path(__file__).resolve().parents[2]
FENCES = {
    "py-evm": ROOT / "chain/embedded/pyevm_internals.py",
    "web3": ROOT / "chain/web3_internals.py",
}
ADDRESS = Address(b"\x11" * 20)


def _module(name: str) -> Callable[[], Any]:
    return lambda: importlib.import_module(name)


def _instance(cls: type) -> Any:
    """An object of ``cls`` as py-evm builds it: its instance attributes exist."""
    if cls is AccountDB:
        return AccountDB(AtomicDB())
    if cls in (AccountStorageDB, StorageLookup):
        return cls(AtomicDB(), BLANK_ROOT_HASH, ADDRESS)
    if cls is HashTrie:
        return HashTrie(cast(Any, HexaryTrie({})))
    return cls


# (library, where the name lives, the name); the accessors of the fences reach these
FENCED: list[tuple[str, Callable[[], Any], str]] = [
    ("py-evm", _module("eth._utils.address"), "generate_contract_address"),
    ("py-evm", lambda: ChainDB, "_decanonicalize_old_headers"),
    ("py-evm", lambda: ChainDB, "_get_header_chain_gaps"),
    ("py-evm", lambda: ChainDB, "_get_chain_gaps"),
    ("py-evm", lambda: _instance(HashTrie), "_db"),
    *(
        ("py-evm", lambda cls=cls: _instance(cls), name)
        for cls, names in pyevm_internals.SUBCLASS_HOOKS.items()
        for name in names
    ),
    ("web3", _module("web3._utils.method_formatters"), "receipt_formatter"),
    ("web3", _module("web3._utils.method_formatters"), "log_entry_formatter"),
]
PINNED = {"py-evm": pyevm_internals.PINNED_VERSION, "web3": web3_internals.PINNED_VERSION}


def _pinned_in_pyproject(library: str) -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        found = re.fullmatch(rf"{re.escape(library)}(\[[\w,]+\])?==(\S+)", requirement)
        if found:
            return found.group(2)
    raise AssertionError(f"{library} is not pinned (==) in pyproject.toml")


@pytest.mark.parametrize("library", sorted(PINNED))
def test_the_installed_library_is_the_version_the_fence_was_checked_against(
    library: str,
) -> None:
    names = [name for lib, _, name in FENCED if lib == library]
    assert _pinned_in_pyproject(library) == PINNED[library], (
        f"pyproject.toml pins {library} {_pinned_in_pyproject(library)} but "
        f"{FENCES[library].relative_to(ROOT)} was checked against {PINNED[library]}: "
        f"re-check every private name it uses ({', '.join(names)}), then its PINNED_VERSION"
    )
    assert version(library) == PINNED[library], (
        f"{library} {version(library)} is installed, the fence "
        f"{FENCES[library].relative_to(ROOT)} was checked against {PINNED[library]}: "
        f"re-check every private name it uses: {', '.join(names)}"
    )


@pytest.mark.parametrize(
    ("library", "owner", "name"), FENCED, ids=[f"{lib}:{name}" for lib, _, name in FENCED]
)
def test_every_fenced_private_name_still_exists(
    library: str, owner: Callable[[], Any], name: str
) -> None:
    assert hasattr(owner(), name), (
        f"{library} {version(library)} no longer has {name}, which "
        f"{FENCES[library].relative_to(ROOT)} relies on"
    )


LIBRARIES = r"(?:eth|web3|eth_utils|eth_abi|eth_account|eth_keys|eth_tester|trie|rlp|hexbytes)"
PRIVATE_MODULE = re.compile(rf"^\s*(?:from|import)\s+{LIBRARIES}(?:\.\w+)*\._", re.MULTILINE)
IMPORTED = re.compile(rf"^from\s+{LIBRARIES}(?:\.\w+)*\s+import\s+(\([^)]*\)|.*)$", re.MULTILINE)
PRIVATE_NAMES = re.compile(
    r"\b(_FastOpcode|_gas_meter|_decanonicalize_old_headers|_get_header_chain_gaps|"
    r"_get_chain_gaps|_cached_values|_storage_cache|_get_computation_error|"
    r"method_formatters)\b|\b(eth|web3)\._\w+"
)
# py-evm's storage layers, rebuilt around the batched lookup (``SUBCLASS_HOOKS``)
REBUILDS_STORAGE_LAYERS = Path("chain/embedded/trie_batch.py")


def offences(where: Path, text: str) -> list[str]:
    """Each private name of a library that ``text`` (the module ``where``) reaches."""
    found = [f"{where}: imports {m.group(0).strip()}" for m in PRIVATE_MODULE.finditer(text)]
    for imported in IMPORTED.finditer(text):
        names = re.findall(r"\w+", re.sub(r"#.*", "", imported.group(1)))
        found += [f"{where}: imports {name}" for name in names if name.startswith("_")]
    for m in PRIVATE_NAMES.finditer(text):
        if not (where == REBUILDS_STORAGE_LAYERS and m.group(0) == "_storage_cache"):
            found.append(f"{where}: uses {m.group(0)}")
    return found


def _sources() -> list[Path]:
    fences = set(FENCES.values())
    return [
        path
        for package in ("chain", "api", "nodes", "scripts")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path not in fences
    ]


def test_no_module_but_the_fences_reaches_a_library_s_private_names() -> None:
    found = [o for path in _sources() for o in offences(path.relative_to(ROOT), path.read_text())]
    assert not found, "private library names outside the fences:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "line",
    [
        "from eth._utils.address import generate_contract_address",
        "import web3._utils.method_formatters",
        "from eth.estimators.gas import _get_computation_error",
        "from eth.vm.opcode import (\n    Opcode,\n    _FastOpcode,\n)",
        "    meter = computation._gas_meter",
        "    cache = store._storage_cache._cached_values",
    ],
)
def test_the_scan_finds_each_kind_of_reach(line: str) -> None:
    # the scan above is only worth its silence if it finds what it looks for
    assert offences(Path("chain/x.py"), line + "\n")


def _py_evm_overrides() -> set[tuple[type, str]]:
    """(class, name) of each private name a chain-layer class defines over one of py-evm's."""
    found = set()
    for path in sorted((ROOT / "chain").rglob("*.py")):
        if path.name == "env.py" or "versions" in path.parts:
            continue  # Alembic's: they run only under Alembic
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for cls in vars(module).values():
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            py_evm_bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] == "eth"]
            for name in cls.__dict__:
                private = name.startswith("_") and not name.startswith("__")
                overrides = any(name in base.__dict__ for base in py_evm_bases)
                if private and overrides and name != "_abc_impl":
                    found.add((cls, name))
    return found


def test_every_private_py_evm_name_a_subclass_overrides_is_a_listed_hook() -> None:
    hooks = pyevm_internals.SUBCLASS_HOOKS
    unlisted = sorted(
        f"{cls.__module__}.{cls.__qualname__}.{name}"
        for cls, name in _py_evm_overrides()
        if not any(issubclass(cls, hooked) and name in names for hooked, names in hooks.items())
    )
    assert not unlisted, f"private py-evm names overridden outside SUBCLASS_HOOKS: {unlisted}"
    assert _py_evm_overrides(), "the search finds the overrides there are"
