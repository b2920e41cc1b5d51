"""Compile every contract under ``contracts/src`` into ``contracts/build``.

Drives the pinned npm ``solc`` (solc-js) through Node.js with a standard-JSON
input, so the exact compiler comes from ``contracts/package-lock.json`` and
never from a download at run time. Every artifact records the ABI, both
bytecodes, the compiler version, the settings and a SHA-256 of the sources it
was built from; the build is deterministic, so a test can recompile and demand
byte-identical files.

Usage: ``python -m scripts.compile_contracts [--out DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = ROOT / "contracts"
SOURCE_DIR = CONTRACTS_DIR / "src"
BUILD_DIR = CONTRACTS_DIR / "build"

# Paris: no PUSH0 / MCOPY, so the bytecode runs on Besu, GoQuorum and py-evm alike.
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "paris",
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "metadata",
                "storageLayout",
            ]
        }
    },
}

# solc-js reads the standard JSON from stdin; imports resolve inside node_modules.
_NODE_DRIVER = r"""
const fs = require('fs');
const path = require('path');
const solc = require('solc');
const input = fs.readFileSync(0, 'utf8');
const loaded = {};
function findImports(name) {
  const file = path.join(process.cwd(), 'node_modules', name);
  try {
    const contents = fs.readFileSync(file, 'utf8');
    loaded[name] = contents;
    return { contents };
  } catch (e) {
    return { error: 'not found: ' + name };
  }
}
const output = JSON.parse(solc.compile(input, { import: findImports }));
process.stdout.write(JSON.stringify({ version: solc.version(), output, loaded }));
"""


class CompileError(RuntimeError):
    """solc reported errors, or the toolchain is missing."""


def _sources() -> dict[str, str]:
    files = sorted(SOURCE_DIR.rglob("*.sol"))
    if not files:
        raise CompileError(f"no Solidity sources under {SOURCE_DIR}")
    return {f"src/{f.relative_to(SOURCE_DIR).as_posix()}": f.read_text("utf-8") for f in files}


def run_solc(sources: dict[str, str]) -> dict[str, Any]:
    """Compile ``sources`` with the pinned solc-js; return version, output and loaded imports."""
    if shutil.which("node") is None:
        raise CompileError("Node.js is required to compile contracts (node not on PATH)")
    if not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        raise CompileError("run `npm ci` in contracts/ first: the pinned solc is not installed")
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": SETTINGS,
    }
    proc = subprocess.run(
        ["node", "-e", _NODE_DRIVER],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        cwd=CONTRACTS_DIR,
        check=False,
    )
    if proc.returncode != 0:
        raise CompileError(f"solc-js failed: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    errors = [e for e in result["output"].get("errors", []) if e["severity"] == "error"]
    if errors:
        raise CompileError("\n".join(e["formattedMessage"] for e in errors))
    return result


def _sha256_of(names: list[str], texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return digest.hexdigest()


def build_artifacts(
    result: dict[str, Any], sources: dict[str, str], prefix: str = "src/"
) -> dict[str, dict[str, Any]]:
    """Turn solc output into one artifact per contract or interface of the sources whose
    name starts with ``prefix``."""
    texts = {**result["loaded"], **sources}
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in sorted(result["output"]["contracts"].items()):
        if not source_name.startswith(prefix):
            continue  # library code (OpenZeppelin) is compiled in, not shipped separately
        for name, out in sorted(contracts.items()):
            metadata = json.loads(out["metadata"])
            used = sorted(metadata["sources"])
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": {"name": "solc-js", "version": result["version"]},
                "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                "sources": used,
                "sourcesSha256": _sha256_of(used, texts),
                "abi": out["abi"],
                "bytecode": "0x" + out["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
                "storageLayout": storage_layout(out["storageLayout"]),
            }
    return artifacts


def storage_layout(solc_layout: dict[str, Any]) -> list[str]:
    """solc's storage layout as lines ``slot:offset path type`` without AST ids, so that two
    builds compare as text: a variable by its name, a struct's members (also the members of
    the structs that mappings and arrays hold, as ``name[].member``) one line each. A proxy's
    next implementation must keep every line (tests/chain/test_storage_layout.py)."""
    types: dict[str, Any] = solc_layout.get("types") or {}
    lines: list[str] = []

    def walk(path: str, type_id: str, slot: int, offset: int) -> None:
        kind = types[type_id]
        lines.append(f"{slot}:{offset} {path} {kind['label']}")
        inner = kind.get("value") or kind.get("base")
        if inner is not None:  # a mapping's value or an array's element: its own slots
            walk(f"{path}[]", inner, 0, 0)
        for member in kind.get("members", []):  # a struct: its members from its own slot
            at = slot + int(member["slot"])
            walk(f"{path}.{member['label']}", member["type"], at, int(member["offset"]))

    for variable in solc_layout.get("storage", []):
        walk(variable["label"], variable["type"], int(variable["slot"]), int(variable["offset"]))
    return lines


def render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def compile_all(out_dir: Path = BUILD_DIR) -> list[Path]:
    """Compile all sources and (re)write their artifacts in ``out_dir``; return the files."""
    sources = _sources()
    artifacts = build_artifacts(run_solc(sources), sources)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_text(render(artifact), "utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help="artifact directory")
    args = parser.parse_args(argv)
    try:
        written = compile_all(args.out)
    except CompileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"compiled {len(written)} artifacts into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
