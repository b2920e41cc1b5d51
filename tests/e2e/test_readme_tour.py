"""The README's five-minute tour, pasted as is into bash against a fresh development node.

The tour's shell blocks are taken from README.md, run with ``set -euo pipefail`` against a
real ``scf-node start --dev`` on free ports (``API`` and ``SCF_HOME`` point the tour at it,
as its first lines allow), and what the README says the tour prints must be in what it
printed. A README edit that breaks a command, or an API change that makes the README's
output untrue, fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nodes.runtime.ports import free_ports
from tests.nodes.test_start import _start, _stop, _wait_for_api

README = Path(__file__).resolve().parents[2] / "README.md"
TOUR_HEADING = "## A five-minute tour"
TOUR_TIMEOUT = 180.0  # seconds for the whole tour; it waits for a dozen blocks
FENCE = re.compile(r"^```(?P<lang>\S*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def tour_section() -> str:
    """The README's text from the tour's heading to the next section."""
    text = README.read_text("utf-8")
    start = text.index(TOUR_HEADING)
    end = text.find("\n## ", start + len(TOUR_HEADING))
    return text[start : end if end != -1 else len(text)]


def tour_script() -> str:
    """The tour's shell blocks, in order, as a reader pastes them."""
    blocks = [m["body"] for m in FENCE.finditer(tour_section()) if m["lang"] == "sh"]
    assert blocks, f"no ```sh block under {TOUR_HEADING!r} in README.md"
    return "\n".join(blocks)


def shown_output() -> list[str]:
    """The lines the README shows the tour printing (its block without a language)."""
    blocks = [m["body"] for m in FENCE.finditer(tour_section()) if not m["lang"]]
    assert len(blocks) == 1, "the tour should show one block of its output"
    return [line for line in blocks[0].splitlines() if line.strip()]


@dataclass(frozen=True)
class TourRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def json_lines(self) -> list[Any]:
        found = []
        for line in self.lines:
            if line.startswith("{"):
                found.append(json.loads(line))
        return found


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TourRun]:
    """The tour, run once on a node started for it in a temporary home."""
    for tool in ("bash", "curl", "python3"):
        assert shutil.which(tool), f"the tour needs {tool} on PATH"
    home = tmp_path_factory.mktemp("tour") / "home"
    workdir = tmp_path_factory.mktemp("tour-cwd")  # where a reader would paste it
    port, api_port, read_port = free_ports(3)
    api = f"http://127.0.0.1:{api_port}"
    proc = _start(home, port, api_port, read_port)
    try:
        _wait_for_api(api, proc)
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + tour_script()],
            cwd=workdir,
            env={**os.environ, "API": api, "SCF_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=TOUR_TIMEOUT,
        )
        yield TourRun(done.returncode, done.stdout, done.stderr)
    finally:
        _stop(proc)


def test_the_tour_pastes_as_is() -> None:
    """Keys, hashes and ids are captured from answers, never pasted or elided; and no
    ``!``, which an interactive bash would take for history expansion."""
    script = tour_script()
    assert "!" not in script
    assert "…" not in script
    assert not re.search(r"scf_[A-Za-z0-9_-]{4}", script)  # an API key
    assert not re.search(r"0x[0-9a-fA-F]{4}", script)  # a hash, key or address


def test_the_tour_runs_as_pasted(tour: TourRun) -> None:
    assert tour.returncode == 0, f"stdout:\n{tour.stdout}\nstderr:\n{tour.stderr}"
    assert tour.stderr == ""


def test_it_prints_what_the_readme_shows(tour: TourRun) -> None:
    for line in shown_output():
        assert line in tour.lines, f"the README shows {line!r}; the tour printed:\n{tour.stdout}"


def test_the_operator_is_an_auditor_and_the_only_governor(tour: TourRun) -> None:
    me, committee = tour.json_lines()[:2]
    assert (me["id"], me["roles"]) == (1, ["AUDITOR"])
    [governor] = committee["governors"]
    assert governor["member_id"] == 1
    assert governor["account"] in me["accounts"]
    assert governor["weight"] == committee["total_weight"]


def test_a_company_waits_for_the_committee_then_joins(tour: TourRun) -> None:
    pending, joined = tour.json_lines()[2:4]  # Acme's /members/me, before and after
    assert pending["error"]["code"] == "application_pending"
    assert tour.lines.count("executed") == 2
    assert (joined["id"], joined["roles"], joined["status"]) == (2, ["CORE_ENTERPRISE"], "active")


def test_the_invoice_is_registered_confirmed_and_refused_twice(tour: TourRun) -> None:
    registered = next(r for r in tour.json_lines() if r.get("status") == "registered")
    assert (registered["buyer_id"], registered["amount"]) == (2, "250000.00")
    assert "confirmed" in tour.lines
    refused = tour.lines.index("HTTP 409") - 1
    error = json.loads(tour.lines[refused])["error"]
    assert error["details"] == {
        "error": "InvoiceAlreadyRegistered",
        "args": {"key": registered["key"]},
    }
    alerts = tour.json_lines()[-1]["items"]
    assert [(a["kind"], a["details"]["invoice_key"]) for a in alerts] == [
        ("duplicate_invoice", registered["key"])
    ]
