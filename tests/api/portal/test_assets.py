"""The browser libraries the node serves are the pinned npm packages' files, unchanged,
and every word of the portal exists in both languages."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from api.portal.i18n import LANGUAGES, LOCALES
from api.routes.invoices import STATUSES as INVOICE_STATUSES
from api.schemas.portal_users import Role
from scripts.vendor_portal_assets import FILES, MANIFEST, NODE_MODULES, VENDOR_DIR, sha256

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "api" / "portal" / "templates"


def _manifest() -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(MANIFEST.read_text("utf-8"))
    return loaded


def test_the_committed_files_are_the_manifests() -> None:
    manifest = _manifest()
    assert set(manifest) == set(FILES)
    pins = json.loads((ROOT / "contracts" / "package.json").read_text("utf-8"))["devDependencies"]
    for served, entry in manifest.items():
        assert (entry["package"], entry["file"]) == FILES[served]
        assert entry["version"] == pins[entry["package"]], served  # the exact pin
        assert sha256(VENDOR_DIR / served) == entry["sha256"], served


def test_the_committed_files_are_the_installed_packages_files() -> None:
    if not NODE_MODULES.exists():
        if os.environ.get("CI"):
            pytest.fail("npm ci --prefix contracts did not run")
        pytest.skip("contracts/node_modules is not installed (npm ci --prefix contracts)")
    for served, entry in _manifest().items():
        package = NODE_MODULES / entry["package"]
        installed = json.loads((package / "package.json").read_text("utf-8"))["version"]
        assert installed == entry["version"], served
        assert (package / entry["file"]).read_bytes() == (VENDOR_DIR / served).read_bytes()


def test_both_languages_have_every_word_the_templates_use() -> None:
    catalogs = {
        language: json.loads((LOCALES / f"{language}.json").read_text("utf-8"))
        for language in LANGUAGES
    }
    assert len({frozenset(c) for c in catalogs.values()}) == 1  # the same keys
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r't\("([a-z_]+\.?[a-z_]+)"', template.read_text("utf-8")))
    assert used
    used |= {f"role.{role.value}" for role in Role}  # t("role." ~ user.role)
    used |= {f"invoice_status.{status}" for status in INVOICE_STATUSES}
    used |= {
        f"financing_status.{s}" for s in ("pending", "approved", "rejected", "cancelled", "expired")
    }
    assert used <= set(catalogs["en"])
