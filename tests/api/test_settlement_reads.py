"""Reading a settlement balance needs no signing key: a member whose key this node does
not hold (its institution's node holds it, or it signs for itself) reads its balance
here as any other member does."""

from __future__ import annotations

from typing import Any

from api.readmodel.models import MemberAccountRow
from api.services.api_keys import issue_key
from tests.api.conftest import ApiWorld

BANK_REFERENCE = "0x" + "cd" * 32


def keyless_member(api_world: ApiWorld) -> tuple[int, str, dict[str, str]]:
    """The operator member (the governor's account, whose key the node does not hold),
    with an API key: (member id, account, headers)."""
    account = api_world.world.governor.address
    with api_world.sessions.begin() as session:
        row = session.get(MemberAccountRow, account)
        assert row is not None
        key = issue_key(session, row.member_id, label="keyless").key
        return row.member_id, account, {"Authorization": f"Bearer {key}"}


def _post(api_world: ApiWorld, who: str, path: str, body: Any) -> Any:
    answer = api_world.client.post(path, json=body, headers=api_world.auth(who))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_member_whose_key_is_elsewhere_reads_its_balance(api_world: ApiWorld) -> None:
    member_id, account, headers = keyless_member(api_world)
    before = api_world.client.get("/v1/settlement/balance", headers=headers)
    assert before.status_code == 200, before.text
    assert before.json() == {"member_id": member_id, "account": account, "balance": "0.00"}
    # paid by the bank through this node: the balance it reads is where it was paid
    body = {"to_member_id": member_id, "amount": "12.34", "bank_reference": BANK_REFERENCE}
    _post(api_world, "bank", "/v1/settlement/mint", body)
    after = api_world.client.get("/v1/settlement/balance", headers=headers)
    assert after.status_code == 200, after.text
    assert after.json()["balance"] == "12.34"
