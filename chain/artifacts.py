"""Compiled contract artifacts from ``contracts/build`` (see scripts/compile_contracts.py)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from chain.errors import ArtifactError

DEFAULT_BUILD_DIR = Path(__file__).resolve().parents[1] / "contracts" / "build"


def build_dir() -> Path:
    """Where artifacts live: ``$SCF_ARTIFACTS_DIR`` or the repository's contracts/build."""
    return Path(os.environ.get("SCF_ARTIFACTS_DIR", DEFAULT_BUILD_DIR))


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler_version: str
    sources_sha256: str

    @property
    def deployable(self) -> bool:
        return len(self.bytecode) > 0


@cache
def load_artifact(name: str) -> Artifact:
    """The artifact of contract ``name``; raises ``ArtifactError`` if it is missing."""
    path = build_dir() / f"{name}.json"
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(
            f"no artifact for contract {name!r} at {path}; "
            "run `python -m scripts.compile_contracts`",
            details={"contract": name},
        ) from None
    try:
        return artifact_from_json(raw)
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"malformed artifact {path}: {exc}") from exc


def artifact_from_json(raw: dict[str, Any]) -> Artifact:
    """An ``Artifact`` from the JSON form scripts/compile_contracts.py writes."""
    return Artifact(
        name=raw["contractName"],
        abi=raw["abi"],
        bytecode=bytes.fromhex(raw["bytecode"].removeprefix("0x")),
        deployed_bytecode=bytes.fromhex(raw["deployedBytecode"].removeprefix("0x")),
        compiler_version=raw["compiler"]["version"],
        sources_sha256=raw["sourcesSha256"],
    )


def artifact_names() -> list[str]:
    return sorted(p.stem for p in build_dir().glob("*.json"))


def all_artifacts() -> list[Artifact]:
    return [load_artifact(name) for name in artifact_names()]
