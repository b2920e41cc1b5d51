"""The lock file is what was tested: it agrees with pyproject.toml and with this environment.

The README's commands install from `uv.lock`. A requirement changed in pyproject.toml
without `uv lock`, or a suite run from an environment that pip resolved on its own, would
test versions nobody pinned; both fail here.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "scf-chain"

Pin = tuple[str, frozenset[str], str, str]  # name, extras, specifier, marker


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _locked_packages() -> list[dict[str, Any]]:
    packages: list[dict[str, Any]] = _lock()["package"]
    return packages


def _project_entry() -> dict[str, Any]:
    return next(p for p in _locked_packages() if p["name"] == PROJECT)


def _pin(requirement: Requirement, extra: str | None) -> Pin:
    marker = str(requirement.marker) if requirement.marker else ""
    if extra is not None:
        marker = f"extra == '{extra}'" if not marker else f"({marker}) and extra == '{extra}'"
    return (
        canonicalize_name(requirement.name),
        frozenset(requirement.extras),
        str(requirement.specifier),
        str(Marker(marker)) if marker else "",
    )


def _pyproject_pins() -> set[Pin]:
    project = _pyproject()["project"]
    pins = {_pin(Requirement(text), None) for text in project["dependencies"]}
    for extra, texts in project.get("optional-dependencies", {}).items():
        pins |= {_pin(Requirement(text), extra) for text in texts}
    return pins


def _locked_pins() -> set[Pin]:
    pins: set[Pin] = set()
    for entry in _project_entry()["metadata"]["requires-dist"]:
        marker = entry.get("marker", "")
        pins.add(
            (
                canonicalize_name(entry["name"]),
                frozenset(entry.get("extras", [])),
                str(Requirement(f"x{entry.get('specifier', '')}").specifier),
                str(Marker(marker)) if marker else "",
            )
        )
    return pins


def test_the_lock_was_made_from_this_pyproject() -> None:
    in_pyproject, in_lock = _pyproject_pins(), _locked_pins()
    assert in_pyproject == in_lock, (
        "pyproject.toml and uv.lock disagree; run `uv lock` and the suite, then commit both.\n"
        f"only in pyproject.toml: {sorted(in_pyproject - in_lock, key=str)}\n"
        f"only in uv.lock: {sorted(in_lock - in_pyproject, key=str)}"
    )


def _applies(marker: str | None, extra: str = "") -> bool:
    return marker is None or Marker(marker).evaluate({"extra": extra})


def _needed_here() -> Iterator[tuple[str, str]]:
    """(name, version) of every locked package this platform installs for the test extra."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in _locked_packages():
        by_name.setdefault(package["name"], []).append(package)

    def resolve(dep: dict[str, Any]) -> dict[str, Any]:
        candidates = by_name[dep["name"]]
        if "version" in dep:
            return next(p for p in candidates if p["version"] == dep["version"])
        assert len(candidates) == 1, f"{dep['name']}: several locked versions, none chosen"
        return candidates[0]

    project = _project_entry()
    todo = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    seen: set[tuple[str, str]] = set()
    while todo:
        dep = todo.pop()
        if not _applies(dep.get("marker")):
            continue
        package = resolve(dep)
        key = (package["name"], package["version"])
        extras = dep.get("extra", [])
        if key not in seen:
            seen.add(key)
            yield key
            todo.extend(package.get("dependencies", []))
        for extra in extras:
            todo.extend(package.get("optional-dependencies", {}).get(extra, []))


def test_every_locked_version_meets_pyproject() -> None:
    versions = {name: version for name, version in _needed_here()}
    for name, _extras, specifier, _marker in _pyproject_pins():
        assert versions[name] in Requirement(f"x{specifier}").specifier, (name, specifier)


def test_this_environment_is_the_lock() -> None:
    drifted = []
    for name, version in _needed_here():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            drifted.append(f"{name}: locked {version}, installed {installed}")
    assert not drifted, "the environment is not the lock (run `uv sync --locked`):\n" + "\n".join(
        drifted
    )
