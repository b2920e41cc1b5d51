"""TOTP secrets at rest: sealed with the node's data key and bound to their user, so the
read model alone makes no codes and a secret copied onto another user's row does not
open; secrets stored in plain text before sealing still work and are sealed when a node
starts (``nodes.runtime.service.build_api``)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from api.portal import totp
from api.portal.totp_secrets import NoDataKey, open_totp_secret, seal_totp_secret
from api.readmodel.models import PortalUserRow
from api.services.sealed_text import SEALED_PREFIX
from nodes.home import NodeHome
from nodes.runtime.service import build_api
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import PortalUser, browser, create_user, sign_in


def _secret(user: PortalUser) -> str:
    assert user.totp_uri is not None
    return parse_qs(urlsplit(user.totp_uri).query)["secret"][0]


def _stored(api_world: ApiWorld, user_id: int) -> str | None:
    with api_world.sessions() as session:
        return session.get_one(PortalUserRow, user_id).totp_secret


def _set_stored(api_world: ApiWorld, user_id: int, value: str) -> None:
    with api_world.sessions.begin() as session:
        session.get_one(PortalUserRow, user_id).totp_secret = value


def _signs_in(api_world: ApiWorld, user: PortalUser, secret: str) -> bool:
    code = totp.code_at(secret, time.time())
    return sign_in(browser(api_world), user.email, code=code).status_code == 303


def test_the_secret_is_sealed_in_the_read_model(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier1", totp=True)
    stored = _stored(api_world, user.id)
    assert stored is not None
    assert stored.startswith(SEALED_PREFIX)
    assert _secret(user) not in stored
    assert _signs_in(api_world, user, _secret(user))
    listed = api_world.client.get("/v1/portal/users", headers=api_world.auth("tier1")).json()
    assert _secret(user) not in str(listed)  # shown once, at creation only


def test_a_secret_copied_onto_another_users_row_does_not_open(api_world: ApiWorld) -> None:
    first = create_user(api_world, "tier1", totp=True)
    second = create_user(api_world, "tier1", totp=True)
    copied = _stored(api_world, first.id)
    assert copied is not None
    _set_stored(api_world, second.id, copied)
    assert not _signs_in(api_world, second, _secret(first))
    assert not _signs_in(api_world, second, _secret(second))
    assert _signs_in(api_world, first, _secret(first))


def test_an_altered_secret_does_not_open(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier2", totp=True)
    stored = _stored(api_world, user.id)
    assert stored is not None
    flipped = stored[:-3] + ("A" if stored[-3] != "A" else "B") + stored[-2:]
    _set_stored(api_world, user.id, flipped)
    assert not _signs_in(api_world, user, _secret(user))


def test_a_secret_stored_in_plain_text_still_works(api_world: ApiWorld) -> None:
    user = create_user(api_world, "tier2", totp=True)
    plain = totp.new_secret()
    _set_stored(api_world, user.id, plain)  # as an older node stored it
    assert _signs_in(api_world, user, plain)


def test_a_node_without_a_data_key_keeps_no_secret() -> None:
    with pytest.raises(NoDataKey):
        seal_totp_secret(None, totp.new_secret(), 1, "someone@example.com")
    sealed = PortalUserRow(member_id=1, email="a@example.com", totp_secret=SEALED_PREFIX + "x")
    assert open_totp_secret(None, sealed) is None  # nothing it could check a code against


def test_starting_a_node_seals_the_secrets_stored_in_plain_text(
    api_world: ApiWorld, read_model_url: str, tmp_path: Path
) -> None:
    user = create_user(api_world, "tier3", totp=True)
    plain = totp.new_secret()
    _set_stored(api_world, user.id, plain)
    world = api_world.world
    service = build_api(
        NodeHome(tmp_path / "home"),
        world.consortium,
        world.governor,
        "test passphrase",
        read_model_url,
    )
    with api_world.sessions() as session:
        row = session.scalars(select(PortalUserRow).where(PortalUserRow.id == user.id)).one()
        assert row.totp_secret is not None
        assert row.totp_secret.startswith(SEALED_PREFIX)
        assert plain not in row.totp_secret
        assert open_totp_secret(node_vault(service.app), row) == plain
        still_plain = [
            r.id
            for r in session.scalars(select(PortalUserRow)).all()
            if r.totp_secret is not None and not r.totp_secret.startswith(SEALED_PREFIX)
        ]
    assert still_plain == []
