"""Committed artifacts are exactly what the pinned compiler makes of the sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chain.artifacts import artifact_names, load_artifact
from chain.errors import ArtifactError
from scripts import compile_contracts

NODE_MISSING = shutil.which("node") is None
SOLC_MISSING = not (compile_contracts.CONTRACTS_DIR / "node_modules" / "solc").is_dir()


@pytest.mark.skipif(NODE_MISSING, reason="Node.js is not installed: cannot run solc-js")
@pytest.mark.skipif(
    SOLC_MISSING, reason="contracts/node_modules missing: run `npm ci` in contracts/"
)
def test_committed_artifacts_are_reproducible(tmp_path: Path) -> None:
    compile_contracts.compile_all(tmp_path)
    rebuilt = sorted(p.name for p in tmp_path.glob("*.json"))
    committed = sorted(p.name for p in compile_contracts.BUILD_DIR.glob("*.json"))
    assert rebuilt == committed, "artifact set differs: run `python -m scripts.compile_contracts`"
    for name in rebuilt:
        fresh = (tmp_path / name).read_text("utf-8")
        stored = (compile_contracts.BUILD_DIR / name).read_text("utf-8")
        assert fresh == stored, f"{name} is stale: run `python -m scripts.compile_contracts`"


def test_artifacts_record_the_pinned_compiler_and_settings() -> None:
    names = artifact_names()
    assert "MemberRegistry" in names
    artifact = load_artifact("MemberRegistry")
    assert artifact.compiler_version.startswith("0.8.28+commit")
    assert artifact.deployable
    assert len(artifact.sources_sha256) == 64
    assert not load_artifact("IMemberRegistry").deployable


def test_missing_artifact_names_the_contract_and_the_fix() -> None:
    with pytest.raises(ArtifactError, match=r"NoSuchContract.*compile_contracts"):
        load_artifact("NoSuchContract")


def test_compile_errors_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if NODE_MISSING or SOLC_MISSING:
        pytest.skip("solc-js not available")
    broken = tmp_path / "src"
    broken.mkdir()
    (broken / "Broken.sol").write_text("pragma solidity ^0.8.24; contract Broken { uint x = ; }")
    monkeypatch.setattr(compile_contracts, "SOURCE_DIR", broken)
    with pytest.raises(compile_contracts.CompileError, match=r"Broken\.sol"):
        compile_contracts.compile_all(tmp_path / "out")
    assert not (tmp_path / "out").exists()
