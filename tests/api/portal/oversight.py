"""Portal users of a committee-run consortium (tests/api/committee.py): the operator
(an auditor and governor), a regulator (an auditor only), the bank (a governor) and
business members who are neither — for the oversight pages: audit, risk, governance,
explorer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.readmodel.indexer import Indexer
from chain.events import EventDecoder
from tests.api.committee import CommitteeNode
from tests.api.conftest import ApiWorld
from tests.api.portal.helpers import PortalUser, create_user, signed_in


def as_api_world(node: CommitteeNode) -> ApiWorld:
    """The portal helpers take an ``ApiWorld``: the committee node is one in all they use."""
    return ApiWorld(node.world, node.sessions, node.client, node.keys)


def user_of(node: CommitteeNode, member: str, role: str = "operator") -> PortalUser:
    return create_user(as_api_world(node), member, role)


def browser_of(node: CommitteeNode, user: PortalUser, language: str = "en") -> TestClient:
    return signed_in(as_api_world(node), user, language)


def sync(node: CommitteeNode) -> None:
    """Index what the test wrote to the ledger directly (the API indexes its own writes)."""
    Indexer(node.sessions, node.ledger, EventDecoder(node.world.consortium)).sync()
