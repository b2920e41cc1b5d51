"""`scf-node demo --consortium` as a real process: three institutions on loopback (etcd
members and a node each), the story across them, kill -9 of the minter mid-story, every
figure checked on every node. The command checks all of it itself and exits non-zero on
any difference, so one run is the test; it is the project's end-to-end smoke test of a
consortium (issue 24)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.chain.consortium.etcd_cluster import etcd_binary

INSTITUTIONS = ("core", "bank", "suppliers")


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SCF_PASSPHRASE", "SCF_DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "nodes", "demo", "--consortium", *args],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env | {"COLUMNS": "200"},
    )


def test_the_story_across_three_institutions_survives_the_minters_kill(tmp_path: Path) -> None:
    etcd_binary()  # skips without etcd (fails under CI, which installs it)
    directory = tmp_path / "consortium"
    result = _demo("--home", str(directory))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # each company acted through its own institution's node
    for company, institution in (
        ("Qingdao Hearth Home Appliances", "core"),
        ("Bank of the Yellow Sea", "bank"),
        ("Wuhu Copper Winding Wire", "suppliers"),
    ):
        assert re.search(rf"{company}[^\n]*│ {institution} ", output), output
    for landmark in (
        "kill -9 of the minter",
        "InvoiceAlreadyRegistered",
        "FinancingRateAboveAccepted",
        "Tier 3 sold 300000.00",
        "Every node: the same head block",
        "every figure matched on every node",
    ):
        assert landmark in output, output
    killed = re.search(r"kill -9 of the minter \(the (\w+) node\), the (\w+) node minted", output)
    assert killed, output
    assert killed.group(1) != killed.group(2)
    assert {killed.group(1), killed.group(2)} <= set(INSTITUTIONS)
    # the check table: one row per node, all at the same head with one state root
    rows = re.findall(r"│ (core|bank|suppliers) +│ (minter|verifier) +│ (\d+) +│ (0x\w+)…", output)
    assert sorted(row[0] for row in rows) == sorted(INSTITUTIONS), output
    assert len({row[2:] for row in rows}) == 1, rows
    assert sorted(row[1] for row in rows) == ["minter", "verifier", "verifier"]
    for institution in INSTITUTIONS:  # real homes, made by init --consortium and join
        assert (directory / institution / "node.json").exists()
        assert (directory / institution / "network.json").exists()


def test_a_consortium_demo_refuses_a_running_node() -> None:
    result = _demo("--api-url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "no --api-url" in result.stdout
