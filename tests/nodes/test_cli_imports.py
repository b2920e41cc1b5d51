"""`scf-node` imports only what the command it runs needs: its help, and the options of
every command, load none of the ledger's, the API's or the read model's libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What the commands import when they run, never to build their options.
HEAVY = (
    "eth",  # py-evm
    "eth_account",
    "eth_utils",
    "web3",
    "lmdb",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "httpx",
    "cryptography",
    "api.app",
    "api.readmodel",
    "chain.backends",
    "chain.embedded",
)

LOADED = """
import json, sys
from nodes.cli import app
try:
    app(sys.argv[1:], prog_name="scf-node")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""
CLIENT_LOADED = """
import json, sys
import chain.backends.scf_node
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(*arguments: str) -> set[str]:
    """The modules a fresh interpreter holds after ``scf-node ARGUMENTS``."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *arguments],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "arguments",
    [
        ("--help",),
        ("start", "--help"),
        ("member", "propose-suspend", "--help"),
        ("proposal", "vote", "--help"),
        ("status", "--help"),
        ("join", "--help"),
        ("node", "certify", "--help"),
    ],
    ids=" ".join,
)
def test_help_loads_none_of_the_heavy_libraries(arguments: tuple[str, ...]) -> None:
    loaded = loaded_by(*arguments)
    assert "nodes.commands.start" in loaded  # every command's options were built
    assert sorted(name for name in HEAVY if name in loaded) == []


def test_a_client_of_a_running_node_loads_no_ledger_engine() -> None:
    """``ScfNodeLedger``, the way of the commands and of the API to a running node, speaks
    JSON-RPC: the node's own engine (py-evm, its LMDB store) stays unloaded."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_LOADED],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = set(json.loads(done.stdout))
    assert "chain.backends.scf_node" in loaded
    assert sorted(name for name in ("eth", "lmdb", "chain.embedded.node") if name in loaded) == []


def test_loading_the_api_makes_no_password_hash_until_a_sign_in_is_checked() -> None:
    """A node's main process and its read replica load the API at every start: the portal's
    stand-in hash for a sign-in that names no user (argon2id, 0.2 s of CPU) waits for the
    first check, which still spends a verification on a miss and refuses it."""
    checked = """
import json
import api.app
from api.portal import passwords
before = passwords._dummy_hash.cache_info().currsize
refused = passwords.verify_password(None, "a password of no user")
print(json.dumps([before, passwords._dummy_hash.cache_info().currsize, refused]))
"""
    done = subprocess.run(
        [sys.executable, "-c", checked], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == [0, 1, False]
