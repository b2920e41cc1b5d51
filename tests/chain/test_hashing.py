"""The process hashes with safe-pysha3 once ``chain`` is imported, unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROGRAM = (
    "from chain.roles import Role\n"
    "Role.AUDITOR.id\n"  # the process's first hash: a role id is keccak-256 of its name
    "from eth_hash.auto import keccak\n"
    "print(type(keccak.hasher.__self__).__name__)\n"
)


@pytest.mark.parametrize(
    ("environment", "backend"),
    [(None, "PySha3Backend"), ("pycryptodome", "CryptodomeBackend")],
    ids=["default", "chosen-by-the-environment"],
)
def test_keccak_backend(environment: str | None, backend: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    if environment is not None:
        env["ETH_HASH_BACKEND"] = environment
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == backend
