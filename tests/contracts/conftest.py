"""Every contract test starts from the same deployed consortium and leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chain.accounts import Signer
from chain.deploy import Consortium
from chain.ledger import Ledger
from tests.contracts.committee import MakeCommittee, committee_factory
from tests.helpers import World, scoped_world


@pytest.fixture(autouse=True)
def _isolated(ledger: Ledger, consortium: Consortium) -> Iterator[None]:
    snapshot = ledger.snapshot()
    yield
    ledger.revert(snapshot)


@pytest.fixture
def make_committee(ledger: Ledger, deployer: Signer) -> MakeCommittee:
    """Deploy a committee with given weights and thresholds, plus a MemberRegistry it governs."""
    return committee_factory(ledger, deployer)


@pytest.fixture(scope="module")
def world(consortium: Consortium, deployer: Signer) -> Iterator[World]:
    """The cast of ``World`` admitted once per module and gone again after it; a module that
    needs more (money, allowances) overrides it, asking for this one."""
    with scoped_world(consortium, deployer) as cast:
        yield cast
