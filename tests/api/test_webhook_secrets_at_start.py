"""A node that starts over a read model left by an older version seals the webhook
secrets it finds in plain text (``nodes.runtime.service.build_api``). A module of its own: the
webhook it leaves behind must not receive the deliveries of ``test_webhooks``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from api.readmodel.models import WebhookRow
from api.services.webhook_secrets import SEALED_PREFIX, open_secret
from nodes.home import NodeHome
from nodes.runtime.service import build_api
from tests.api.app_services import node_vault
from tests.api.conftest import ApiWorld

OLD_URL = "https://receiver.example/hooks/older-node"
PLAIN = "whsec_left-in-plain-text-by-an-older-node"


def test_starting_seals_the_secrets_an_older_node_stored_in_plain_text(
    api_world: ApiWorld, read_model_url: str, tmp_path: Path
) -> None:
    world = api_world.world
    with api_world.sessions.begin() as session:
        session.add(WebhookRow(member_id=world.tier1.id, url=OLD_URL, secret=PLAIN, created_at=0))
    service = build_api(
        NodeHome(tmp_path / "home"),
        world.consortium,
        world.governor,
        "test passphrase",
        read_model_url,
    )
    with api_world.sessions() as session:
        row = session.scalars(select(WebhookRow).where(WebhookRow.url == OLD_URL)).one()
    assert row.secret.startswith(SEALED_PREFIX)
    assert PLAIN not in row.secret
    vault = node_vault(service.app)
    assert open_secret(vault, row.secret, row.member_id, row.url) == PLAIN
