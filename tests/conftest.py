"""Shared fixtures: one in-memory consortium per test session (per xdist worker).

Contract tests get independence from the snapshot/revert fixture in
tests/contracts/conftest.py, not from redeploying.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.ledger import Ledger
from chain.roles import Role
from tests.helpers import new_credit_code, new_signer


@pytest.fixture(scope="session")
def ledger() -> Iterator[Ledger]:
    chain = open_ledger("tester")
    yield chain
    chain.close()


@pytest.fixture(scope="session")
def deployer(ledger: Ledger) -> Signer:
    """The consortium's deployer and, in admin mode, its only governor."""
    return new_signer(ledger)


@pytest.fixture(scope="session")
def operator_spec(deployer: Signer) -> MemberSpec:
    return MemberSpec(
        name="SCF Consortium Operator",
        credit_code=new_credit_code(),
        roles=[Role.AUDITOR],
        account=deployer.address,
    )


@pytest.fixture(scope="session")
def consortium(ledger: Ledger, deployer: Signer, operator_spec: MemberSpec) -> Consortium:
    """Governance, registries (and business contracts) deployed in admin mode."""
    return deploy_consortium(ledger, deployer, operator_spec)


@pytest.fixture
def fresh_state(ledger: Ledger) -> Iterator[None]:
    """Undo every change a test made to the ledger."""
    snapshot = ledger.snapshot()
    yield
    ledger.revert(snapshot)


def pytest_configure(config: pytest.Config) -> None:
    """In CI (``CI`` set, as ``.ci/run`` does) the run ends with its 20 slowest tests, so a
    test that makes the suite slow is seen the day it lands."""
    if os.environ.get("CI") and config.option.durations is None:
        config.option.durations = 20
