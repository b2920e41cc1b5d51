"""A node home is its operator's alone: keys, databases and the ledger, 0700 / 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from nodes.home import NodeHome


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_an_older_home_left_readable_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "chain" / "ledger").mkdir(parents=True)
    files = [home / "scf.db", home / "node.run.json", home / "chain" / "ledger" / "data.mdb"]
    for file in files:
        file.write_text("x")
        file.chmod(0o644)
    (home / "keys").mkdir(mode=0o700)
    (home / "keys" / "governor.json").write_text("{}")
    (home / "keys" / "governor.json").chmod(0o640)
    outside = tmp_path / "shared.txt"
    outside.write_text("not the node's")
    outside.chmod(0o644)
    (home / "link").symlink_to(outside)
    for directory in (home, home / "chain", home / "chain" / "ledger"):
        directory.chmod(0o755)

    NodeHome(home).keep_private()

    for directory in (home, home / "chain", home / "chain" / "ledger", home / "keys"):
        assert _mode(directory) == 0o700, directory
    for file in [*files, home / "keys" / "governor.json"]:
        assert _mode(file) == 0o600, file
    assert _mode(outside) == 0o644  # a link is not followed out of the home


def test_what_is_private_already_stays_as_it_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    runnable = home / "hook.sh"
    runnable.write_text("#!/bin/sh\n")
    runnable.chmod(0o700)
    NodeHome(home).keep_private()
    assert (_mode(home), _mode(runnable)) == (0o700, 0o700)
