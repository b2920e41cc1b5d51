"""scrypt's work factor follows the passphrase: a secret one gets eth-account's default,
the development passphrase (printed in the source) a small one that protects no less."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account

from chain.accounts import Signer
from nodes.home import DEV_KDF_ITERATIONS, DEV_PASSPHRASE, NodeHome

DEFAULT_ITERATIONS = 2**18  # eth-account's scrypt n


def _work_factor(keystore: Path) -> int:
    n: int = json.loads(keystore.read_text("utf-8"))["crypto"]["kdfparams"]["n"]
    return n


def test_a_real_passphrase_keeps_the_default_work_factor(tmp_path: Path) -> None:
    home, signer = NodeHome(tmp_path / "home"), Signer.create()
    home.write_keystore(signer, "a long secret passphrase of the operator")
    assert _work_factor(home.keystore) == DEFAULT_ITERATIONS
    assert home.read_keystore("a long secret passphrase of the operator").address == signer.address


def test_the_development_passphrase_gets_a_small_one_and_opens(tmp_path: Path) -> None:
    home, signer = NodeHome(tmp_path / "home"), Signer.create()
    home.write_keystore(signer, DEV_PASSPHRASE)
    assert _work_factor(home.keystore) == DEV_KDF_ITERATIONS
    assert home.read_keystore(DEV_PASSPHRASE).address == signer.address
    # a standard keystore: any eth-account opens it with the passphrase
    key = Account.decrypt(json.loads(home.keystore.read_text("utf-8")), DEV_PASSPHRASE)
    assert Account.from_key(key).address == signer.address
