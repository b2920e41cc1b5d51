"""The admission hook keeps its answers while the membership contracts' state stays the same,
and only that long: a change to either contract is seen by the very next transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chain.accounts import Signer
from chain.backends.embedded import DEV_FAUCET_KEY, EmbeddedLedger
from chain.contract import ContractHandle, deploy_contract, send_transaction
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.permissions import MemberAdmission
from chain.embedded.rpc import RpcHandler
from chain.errors import TransactionRefused
from chain.governance import pass_proposal
from chain.roles import Role
from tests.helpers import Member, admit_member, govern, new_credit_code, new_signer


class CountingHandler(RpcHandler):
    """The node's own handler, counting the contract reads the admission hook makes."""

    eth_calls = 0

    def handle(self, method: str, params: list[Any] | None) -> Any:
        if method == "eth_call":
            self.eth_calls += 1
        return super().handle(method, params)


@dataclass
class World:
    ledger: EmbeddedLedger
    consortium: Consortium  # its MemberRegistry is the one the hook reads
    governor: Signer  # governs ``consortium``
    other_governance: ContractHandle  # the ConsortiumGovernance the hook reads
    other_governor: Signer
    handler: CountingHandler


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A hook reading one consortium's registry and a second, separate governance: governing
    the first consortium changes the registry the hook reads and not the governance it reads,
    and the second governance changes alone."""
    ledger = EmbeddedLedger(tmp_path_factory.mktemp("admission") / "chain", dev=True)
    governor, other_governor = new_signer(ledger), new_signer(ledger)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    consortium = deploy_consortium(ledger, governor, spec)
    other = deploy_contract(
        ledger, other_governor, "ConsortiumGovernance", [other_governor.address], [1], 100, 100, 1
    )
    handler = CountingHandler(ledger.node, dev=True)
    faucet = Signer.from_key(DEV_FAUCET_KEY)
    ledger.node.admission = MemberAdmission(
        handler,
        consortium.members.address,
        other.address,
        exempt=[faucet.address, governor.address, other_governor.address],  # they govern
    )
    yield World(ledger, consortium, governor, other, other_governor, handler)
    ledger.close()


def _send(world: World, sender: Signer) -> None:
    receipt = send_transaction(
        world.ledger, sender, to=Signer.create().address, data=b"", gas=21_000, value=0
    )
    assert receipt["status"] == 1


def _assert_refused(world: World, sender: Signer) -> None:
    with pytest.raises(TransactionRefused, match="is not an active member of the consortium"):
        _send(world, sender)


@pytest.fixture
def member(world: World) -> Member:
    return admit_member(world.consortium, world.governor, [Role.SUPPLIER])


def test_answers_hold_across_blocks_that_touch_neither_contract(
    world: World, member: Member
) -> None:
    _send(world, member.signer)
    calls = world.handler.eth_calls
    bystander = new_signer(world.ledger)  # the faucet's transfers: blocks of other business
    world.ledger.mine(3)
    for _ in range(3):
        _send(world, member.signer)
    assert world.handler.eth_calls == calls  # admitted from the cache, block after block
    _assert_refused(world, bystander)
    _assert_refused(world, bystander)
    assert world.handler.eth_calls == calls + 2  # asked once (registry, then governance)


def test_a_suspension_that_changes_only_the_registry_refuses_the_next_transaction(
    world: World, member: Member
) -> None:
    _send(world, member.signer)  # "admitted" is cached
    govern(
        world.consortium, world.governor, (world.consortium.members, "suspendMember", (member.id,))
    )
    _assert_refused(world, member.signer)
    govern(
        world.consortium,
        world.governor,
        (world.consortium.members, "reinstateMember", (member.id,)),
    )
    _send(world, member.signer)


def test_a_new_governor_in_a_block_that_changes_only_the_governance_is_admitted_at_once(
    world: World,
) -> None:
    candidate = new_signer(world.ledger)
    _assert_refused(world, candidate)  # "refused" is cached
    calls = world.handler.eth_calls
    _assert_refused(world, candidate)
    assert world.handler.eth_calls == calls
    governance = world.other_governance
    pass_proposal(
        governance,
        world.other_governor,
        [(governance, "setGovernor", (candidate.address, 1))],
        "Add a governor",
    )
    _send(world, candidate)
