"""`scf-node demo` as a real process: the whole story on a fresh development node.

The demo checks every figure itself and exits non-zero on any difference, so this
test is the project's end-to-end smoke test of a node: CLI, ledger, REST API,
onboarding through votes, and the finance flow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_tells_the_whole_story_and_every_figure_matches(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = subprocess.run(
        [sys.executable, "-m", "nodes", "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "160", "SCF_PASSPHRASE": ""},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for landmark in (
        "committee votes them in",
        "InvoiceAlreadyRegistered",
        "invalid_invoice_identity",  # invoice 1 spelled another way: no second key
        "FinancingRateAboveAccepted",  # the bank cannot pay less than tier 3 accepted
        "Tier 3 sold 300000.00",
        "every figure matched",
    ):
        assert landmark in output, output
    assert (home / "node.json").exists()  # the demo ran on a real node home


def test_demo_fails_loudly_on_a_node_it_cannot_reach(tmp_path: Path) -> None:
    home = tmp_path / "no-node"
    home.mkdir()
    (home / "operator-api-key").write_text("scf_not_a_key\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nodes",
            "demo",
            "--home",
            str(home),
            "--api-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert result.returncode == 1
    assert "Demo FAILED" in result.stdout
