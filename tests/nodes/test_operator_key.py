"""The home's operator API key is its governor's member's, and no other member's
(``nodes.runtime.operator_key``): the founding home's is member 1's; a home that joined a
consortium, by etcd or on an external network, has a governor key of its own that is no
member's account and gets none, so that its operator never authenticates as a member of
the founding institution. The node calls this at every start (``build_api``); the
external-network join is tested end to end in ``test_external_join``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.database import make_engine, migrate, session_factory
from api.readmodel.models import ApiKeyRow
from api.services.api_keys import hash_key, issue_key
from chain.accounts import Signer
from chain.deploy import Consortium
from chain.roles import Role
from nodes.runtime.operator_key import KEY_FILE, ensure_operator_key
from tests.helpers import admit_member


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'scf.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def key_row(sessions: sessionmaker[Session], key_file: Path) -> ApiKeyRow:
    with sessions() as session:
        found = session.get(ApiKeyRow, hash_key(key_file.read_text().strip()))
    assert found is not None
    return found


def test_the_founding_homes_key_is_member_1s_and_kept_across_starts(
    tmp_path: Path, sessions: sessionmaker[Session], consortium: Consortium, deployer: Signer
) -> None:
    key_file = ensure_operator_key(tmp_path, sessions, consortium, deployer.address)
    assert key_file == tmp_path / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    issued = key_row(sessions, key_file)
    assert (issued.member_id, issued.label, issued.revoked_at) == (1, "operator", None)
    key = key_file.read_text()
    assert ensure_operator_key(tmp_path, sessions, consortium, deployer.address) == key_file
    assert key_file.read_text() == key  # the next start keeps it


def test_a_joined_home_whose_governor_is_no_member_gets_no_key(
    tmp_path: Path, sessions: sessionmaker[Session], consortium: Consortium
) -> None:
    joined_governor = Signer.create()  # as ``join`` makes it, by etcd or external network
    assert ensure_operator_key(tmp_path, sessions, consortium, joined_governor.address) is None
    assert not (tmp_path / KEY_FILE).exists()
    with sessions() as session:
        assert session.scalars(select(ApiKeyRow)).all() == []


def test_a_joined_homes_key_for_the_founders_member_is_revoked_at_start(
    tmp_path: Path, sessions: sessionmaker[Session], consortium: Consortium
) -> None:
    """A home joined before this rule kept a key for member 1: it stops authenticating."""
    with sessions.begin() as session:
        stale = issue_key(session, 1, label="operator")
    (tmp_path / KEY_FILE).write_text(stale.key + "\n")
    assert ensure_operator_key(tmp_path, sessions, consortium, Signer.create().address) is None
    assert not (tmp_path / KEY_FILE).exists()
    with sessions() as session:
        row = session.get(ApiKeyRow, hash_key(stale.key))
        assert row is not None
        assert row.revoked_at is not None


def test_a_joined_homes_key_is_its_own_member_once_its_governor_is_admitted(
    tmp_path: Path,
    sessions: sessionmaker[Session],
    consortium: Consortium,
    deployer: Signer,
    fresh_state: None,
) -> None:
    """The committee admits the institution's member with the home's governor account."""
    member = admit_member(consortium, deployer, [Role.FINANCIER])
    key_file = ensure_operator_key(tmp_path, sessions, consortium, member.address)
    assert key_file is not None
    assert key_row(sessions, key_file).member_id == member.id != 1


def test_a_key_file_the_read_model_does_not_know_is_issued_again(
    tmp_path: Path, sessions: sessionmaker[Session], consortium: Consortium, deployer: Signer
) -> None:
    """A read model rebuilt from the chain keeps no API key: the file's key is dead."""
    (tmp_path / KEY_FILE).write_text("scf_a-key-of-a-read-model-since-dropped\n")
    key_file = ensure_operator_key(tmp_path, sessions, consortium, deployer.address)
    assert key_file is not None
    assert "since-dropped" not in key_file.read_text()
    assert key_row(sessions, key_file).member_id == 1
