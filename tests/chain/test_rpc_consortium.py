"""deploy_consortium on a real JSON-RPC node (anvil): the operator is member 1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.backends import open_ledger
from chain.credit_code import credit_code_hash
from chain.deploy import MemberSpec, deploy_consortium
from chain.ledger import Ledger
from chain.roles import Role
from tests.chain.anvil import anvil
from tests.helpers import new_credit_code, new_signer


@pytest.fixture(scope="module")
def node() -> Iterator[Ledger]:
    with anvil() as url:
        ledger = open_ledger("rpc", url=url)
        yield ledger
        ledger.close()


def test_deploy_consortium_on_anvil_admits_the_operator_as_member_1(node: Ledger) -> None:
    deployer = new_signer(node)
    spec = MemberSpec(
        "Consortium Operator Ltd", new_credit_code(), [Role.AUDITOR], deployer.address
    )

    consortium = deploy_consortium(node, deployer, spec)

    members, governance = consortium.members, consortium.governance
    assert members.call("memberOf", deployer.address) == 1
    member = members.call("getMember", 1)
    assert member[1] == spec.name
    assert member[2] == credit_code_hash(spec.credit_code)
    assert members.call("isActiveMember", deployer.address, Role.AUDITOR.id)
    assert governance.call("weightOf", deployer.address) == 1
    assert members.call("governance") == governance.address
    assert consortium.nodes.call("governance") == governance.address
    for handle in consortium.contracts.values():
        assert len(node.get_code(handle.address)) > 0
