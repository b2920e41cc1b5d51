"""Record the storage layouts of the upgradeable business contracts in contracts/layouts.json.

Run it when a version of the contracts is released to consortia: from then on
tests/chain/test_storage_layout.py holds every later build to keep each recorded line
(a proxy's state stays where the deployed code put it; docs/decisions/0013).

Usage: ``python -m scripts.storage_layouts``
"""

from __future__ import annotations

import json
from pathlib import Path

from chain.deploy import UPGRADEABLE
from scripts.compile_contracts import BUILD_DIR, CONTRACTS_DIR

LAYOUTS = CONTRACTS_DIR / "layouts.json"


def current_layouts(build_dir: Path = BUILD_DIR) -> dict[str, list[str]]:
    """Each upgradeable contract's layout as its artifact in ``build_dir`` records it."""
    return {
        name: json.loads((build_dir / f"{name}.json").read_text("utf-8"))["storageLayout"]
        for name in UPGRADEABLE
    }


def main() -> int:
    LAYOUTS.write_text(json.dumps(current_layouts(), indent=2) + "\n", "utf-8")
    print(f"recorded the storage layouts of {', '.join(UPGRADEABLE)} in {LAYOUTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
