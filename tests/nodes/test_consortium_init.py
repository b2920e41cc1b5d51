"""``scf-node init --consortium`` refusals: wrong options, and an etcd that does not answer
(then nothing of the home is left behind)."""

from __future__ import annotations

from pathlib import Path

from nodes.home import NodeHome
from nodes.runtime.ports import free_ports
from tests.nodes.consortium_cluster import cli


def test_consortium_needs_etcd_and_excludes_an_external_ledger(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    no_etcd = cli("init", "--home", home, "--dev", "--consortium", check=False)
    assert no_etcd.returncode == 2
    assert "--consortium needs --etcd" in no_etcd.stdout
    both = cli(
        "init", "--home", home, "--dev", "--consortium", "--etcd", "http://127.0.0.1:1",
        "--ledger-url", "http://127.0.0.1:2", check=False,
    )  # fmt: skip
    assert both.returncode == 2
    bad = cli("init", "--home", home, "--dev", "--consortium", "--etcd", "etcd:2379", check=False)
    assert bad.returncode == 1
    assert "http(s) URLs" in bad.stdout
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())


def test_an_etcd_that_does_not_answer_leaves_no_home(tmp_path: Path) -> None:
    (port,) = free_ports(1)  # nothing listens there
    home = tmp_path / "home"
    refused = cli(
        "init", "--home", str(home), "--dev", "--consortium",
        "--etcd", f"http://127.0.0.1:{port}", check=False,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stdout
    assert "Founding the network failed" in refused.stdout
    assert not NodeHome(home).existing_parts()
    assert not (home / "keys").exists()
    assert not (home / "network.json").exists()
