"""Freeze the contracts of a past commit as test fixtures: a consortium "as deployed before".

Reads every ``contracts/src`` Solidity file of ``--commit`` from git (not the work tree),
compiles them with the pinned solc-js exactly as scripts/compile_contracts.py does, and writes
the deployable contracts' artifacts to ``--out`` with a SOURCE.md saying where they came from.
The importer's tests deploy a legacy consortium from them (docs/decisions/0013).

Usage: ``python -m scripts.legacy_artifacts [--commit REV] [--out DIR] [--check]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.compile_contracts import ROOT, CompileError, build_artifacts, render, run_solc

# The last commit before issue 21 changed the contracts (invoice key derived on chain, price
# protection, proxies): what every consortium deployed until then runs.
LEGACY_COMMIT = "95f011ac06c9d439aa73a4d2dfb1d019b7758b6f"
LEGACY_DIR = ROOT / "tests" / "contracts" / "fixtures" / "legacy"


def _git(*args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise CompileError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def sources_at(commit: str) -> dict[str, str]:
    """``src/...`` name -> text of every Solidity source under contracts/src at ``commit``."""
    names = _git("ls-tree", "-r", "--name-only", commit, "contracts/src").split()
    return {
        name.removeprefix("contracts/"): _git("show", f"{commit}:{name}")
        for name in sorted(names)
        if name.endswith(".sol")
    }


def legacy_artifacts(commit: str) -> dict[str, dict[str, Any]]:
    """The deployable contracts' artifacts compiled from ``commit``'s sources."""
    sources = sources_at(commit)
    built = build_artifacts(run_solc(sources), sources)
    return {name: art for name, art in built.items() if art["bytecode"] != "0x"}


def _note(commit: str, names: list[str]) -> str:
    subject = _git("log", "-1", "--format=%h %s", commit).strip()
    return (
        "# Legacy contracts (before issue 21)\n\n"
        f"Compiled by `python -m scripts.legacy_artifacts` from the Solidity sources of commit\n"
        f"`{commit}`\n({subject}),\n"
        "the last commit before issue 21 changed the contracts. Not proxied; what consortia\n"
        "deployed until then run. Frozen: the importer's tests deploy a legacy consortium\n"
        "from them (tests/contracts/test_import_legacy.py, docs/decisions/0013).\n\n"
        + "".join(f"- {name}\n" for name in names)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default=LEGACY_COMMIT)
    parser.add_argument("--out", type=Path, default=LEGACY_DIR)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    try:
        artifacts = legacy_artifacts(args.commit)
    except CompileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    files = {f"{name}.json": render(art) for name, art in artifacts.items()}
    files["SOURCE.md"] = _note(args.commit, sorted(artifacts))
    if args.check:
        stale = [n for n, text in files.items() if _read(args.out / n) != text]
        for name in stale:
            print(f"differs: {args.out / name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, "utf-8")
    print(f"wrote {len(artifacts)} legacy artifacts into {args.out}")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text("utf-8") if path.exists() else None


if __name__ == "__main__":
    raise SystemExit(main())
