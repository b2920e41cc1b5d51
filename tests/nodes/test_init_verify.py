"""`scf-node init` creates a home without starting and never overwrites one;
`scf-node verify` passes on it and fails, naming the block, once the store is tampered with."""

from __future__ import annotations

from pathlib import Path

import lmdb
import rlp  # type: ignore[import-untyped]
from typer.testing import CliRunner

from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.indexer import Indexer
from api.readmodel.models import MemberRow
from chain.embedded.node import store_dir
from chain.events import EventDecoder
from nodes.cli import app
from nodes.connect import connected, database_url
from nodes.home import NodeHome

runner = CliRunner()


def _said(output: str) -> str:
    """The command's output with Rich's line wrapping undone."""
    return " ".join(output.split())


def _get(txn: lmdb.Transaction, key: bytes) -> bytes:
    value = txn.get(key)
    assert value is not None, f"no record 0x{key.hex()} in the store"
    return bytes(value)


def test_init_then_verify_then_refuse_to_overwrite(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    result = runner.invoke(app, ["init", "--home", str(home.path), "--dev"])
    assert result.exit_code == 0, result.output
    assert home.is_initialized()
    assert "Initialized" in _said(result.output)
    deployment = home.deployment.read_text("utf-8")

    result = runner.invoke(app, ["verify", "--home", str(home.path)])
    assert result.exit_code == 0, result.output
    assert "Verified" in _said(result.output)

    result = runner.invoke(app, ["init", "--home", str(home.path), "--dev"])
    assert result.exit_code == 1
    assert "already initialized" in _said(result.output)
    assert "refusing to overwrite" in _said(result.output)
    assert home.deployment.read_text("utf-8") == deployment

    # a changed value under the head block's state root makes verify fail, naming the block
    env = lmdb.open(str(store_dir(home.chain_dir)), max_dbs=0)
    try:
        with env.begin(write=True) as txn:
            head_hash = _get(txn, b"v1:canonical_head_hash")
            fields = rlp.decode(_get(txn, head_hash))  # header: ..., state root [3], number [8]
            number, state_root = int.from_bytes(fields[8], "big"), fields[3]
            node = bytearray(_get(txn, state_root))
            node[-1] ^= 0x01
            txn.put(state_root, bytes(node))
    finally:
        env.close()
    result = runner.invoke(app, ["verify", "--home", str(home.path)])
    assert result.exit_code == 1, result.output
    assert f"Verification FAILED at block {number}:" in _said(result.output)


def test_init_refuses_a_home_that_is_not_empty(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    home.chain_dir.mkdir(parents=True)
    result = runner.invoke(app, ["init", "--home", str(home.path), "--dev"])
    assert result.exit_code == 1
    assert "is not empty" in _said(result.output)
    assert not home.deployment.exists()


def test_verify_needs_an_initialized_home(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "not an initialized node home" in _said(result.output)


def test_verify_reconciles_the_read_model_and_names_a_difference(tmp_path: Path) -> None:
    home = NodeHome(tmp_path / "home")
    assert runner.invoke(app, ["init", "--home", str(home.path), "--dev"]).exit_code == 0
    result = runner.invoke(app, ["verify", "--home", str(home.path)])
    assert "No read model yet" in _said(result.output)

    engine = make_engine(database_url(home))  # what `start` builds: migrate, then index
    migrate(engine)
    sessions = session_factory(engine)
    with connected(home) as connection:
        Indexer(sessions, connection.ledger, EventDecoder(connection.consortium)).sync()
    result = runner.invoke(app, ["verify", "--home", str(home.path)])
    assert result.exit_code == 0, result.output
    assert "Reconciled the read model with chain state at block" in _said(result.output)

    with sessions.begin() as session:
        operator = session.get(MemberRow, 1)
        assert operator is not None
        operator.status = "suspended"
    engine.dispose()
    result = runner.invoke(app, ["verify", "--home", str(home.path)])
    assert result.exit_code == 1, result.output
    said = _said(result.output)
    assert "The read model differs from the chain (1)" in said
    assert "member 1: chain has (status, roles)=('active'" in said


def test_start_refuses_dev_mode_on_a_production_home_and_a_wrong_passphrase(
    tmp_path: Path,
) -> None:
    home = NodeHome(tmp_path / "prod")
    secret = {"SCF_PASSPHRASE": "a long production passphrase"}
    assert runner.invoke(app, ["init", "--home", str(home.path)], env=secret).exit_code == 0
    # time travel on a production ledger would move every maturity: refused before anything runs
    result = runner.invoke(app, ["start", "--home", str(home.path), "--dev"], env=secret)
    assert result.exit_code == 2, result.output
    assert "is not a development home" in _said(result.output)
    wrong = {"SCF_PASSPHRASE": "not it"}
    result = runner.invoke(app, ["start", "--home", str(home.path)], env=wrong)
    assert result.exit_code == 2, result.output
    assert "Wrong passphrase" in _said(result.output)
    assert "Traceback" not in result.output
