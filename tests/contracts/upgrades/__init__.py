"""Test-only second versions of the business contracts, compiled when the tests need them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chain.artifacts import Artifact, artifact_from_json
from scripts.compile_contracts import SOURCE_DIR, build_artifacts, run_solc

FIXTURES = Path(__file__).resolve().parent


@cache
def fixture_artifacts() -> dict[str, Artifact]:
    """Compile the fixtures here together with contracts/src (about 15 s, once a session)."""
    sources = {
        f"src/{f.relative_to(SOURCE_DIR).as_posix()}": f.read_text("utf-8")
        for f in sorted(SOURCE_DIR.rglob("*.sol"))
    }
    # named beside src/ so that their `../src/...` imports resolve
    sources |= {f"fixtures/{f.name}": f.read_text("utf-8") for f in FIXTURES.glob("*.sol")}
    raw = build_artifacts(run_solc(sources), sources, prefix="fixtures/")
    return {name: artifact_from_json(art) for name, art in raw.items()}
