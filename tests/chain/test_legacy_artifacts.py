"""The frozen legacy artifacts (tests/contracts/fixtures/legacy) are what the pinned compiler
makes of the legacy commit's sources, byte for byte (scripts/legacy_artifacts.py)."""

from __future__ import annotations

import subprocess

import pytest

from scripts.compile_contracts import ROOT
from scripts.legacy_artifacts import LEGACY_COMMIT, main


def _have_commit() -> bool:
    probe = ["git", "-C", str(ROOT), "cat-file", "-e", f"{LEGACY_COMMIT}^{{commit}}"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _have_commit(), reason="the legacy commit is not in this clone's history")
def test_the_legacy_fixtures_are_the_legacy_sources_compiled() -> None:
    assert main(["--check"]) == 0
