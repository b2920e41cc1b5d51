"""A new production home needs a strong passphrase; an existing home keeps its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nodes.cli import app
from nodes.commands import common
from nodes.home import DEV_PASSPHRASE, NodeHome
from nodes.passphrase_rule import weakness

runner = CliRunner()


def said(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("passphrase", "problem"),
    [
        ("12345", "it has 5 characters"),
        ("aaaaaaaaaaaaaaaa", "it has only 1 different characters"),
        ("abababababab1212", "it has only 4 different characters"),
        ("abcdefabcdef", "it repeats one piece"),
        ("qwerty1qwerty1qw", "it repeats one piece"),
        (DEV_PASSPHRASE, "it is the published development passphrase"),
    ],
)
def test_weak_passphrases_are_named_with_what_is_wrong(passphrase: str, problem: str) -> None:
    assert weakness(passphrase) == problem


@pytest.mark.parametrize(
    "passphrase", ["a long production passphrase", "correct horse battery staple", "x7#Lq9!vR2mZ"]
)
def test_strong_passphrases_pass(passphrase: str) -> None:
    assert weakness(passphrase) is None


def test_init_refuses_a_weak_passphrase_before_writing_anything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = runner.invoke(app, ["init", "--home", str(home)], env={"SCF_PASSPHRASE": "12345"})
    assert result.exit_code == 2, result.output
    message = said(result.output)
    assert "too weak for a production home: it has 5 characters" in message
    assert "at least 12 characters" in message
    assert "or use --dev for a development home" in message
    assert not home.exists() or not any(home.iterdir())


def test_a_home_made_before_the_rule_keeps_its_weak_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = NodeHome(tmp_path / "home")
    weak = {"SCF_PASSPHRASE": "12345"}
    with monkeypatch.context() as before_the_rule:
        before_the_rule.setattr(common, "weakness", lambda passphrase: None)
        made = runner.invoke(app, ["init", "--home", str(home.path)], env=weak)
        assert made.exit_code == 0, made.output
    # signing opens the governor keystore with the old passphrase, then the contract refuses
    result = runner.invoke(
        app, ["member", "propose-suspend", "99", "--home", str(home.path)], env=weak
    )
    assert result.exit_code == 1, result.output
    assert "MemberNotFound(memberId=99)" in said(result.output)
