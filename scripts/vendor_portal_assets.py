"""Copy the portal's browser libraries from the pinned npm packages into
``api/portal/static/vendor`` (committed: the node serves them offline, no CDN).

The packages are pinned in ``contracts/package.json`` / ``package-lock.json`` beside the
Solidity toolchain, so the one ``npm ci --prefix contracts`` that every checkout runs
installs them too. ``MANIFEST.json`` records each file's package, version and SHA-256;
``tests/api/portal/test_assets.py`` checks the committed files against it and against
the installed packages.

Usage: ``python -m scripts.vendor_portal_assets`` (after ``npm ci --prefix contracts``)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "contracts" / "node_modules"
VENDOR_DIR = ROOT / "api" / "portal" / "static" / "vendor"
MANIFEST = VENDOR_DIR / "MANIFEST.json"

# served file name -> (npm package, file inside it)
FILES = {
    "htmx.min.js": ("htmx.org", "dist/htmx.min.js"),
    "htmx.LICENSE.txt": ("htmx.org", "LICENSE"),
    "echarts.min.js": ("echarts", "dist/echarts.min.js"),
    "echarts.LICENSE.txt": ("echarts", "LICENSE"),
}


def installed_version(package: str) -> str:
    meta = json.loads((NODE_MODULES / package / "package.json").read_text("utf-8"))
    return str(meta["version"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor() -> dict[str, dict[str, str]]:
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for served, (package, inside) in FILES.items():
        target = VENDOR_DIR / served
        shutil.copyfile(NODE_MODULES / package / inside, target)
        manifest[served] = {
            "package": package,
            "version": installed_version(package),
            "file": inside,
            "sha256": sha256(target),
        }
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    return manifest


if __name__ == "__main__":
    for served, entry in vendor().items():
        print(f"{served}: {entry['package']}@{entry['version']} {entry['file']}")
