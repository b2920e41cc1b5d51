"""Shared fixtures: one in-memory consortium per test session (per xdist worker).

Contract tests get independence from the snapshot/revert fixture in
tests/contracts/conftest.py, not from redeploying.
"""

from __future__ import annotations

import compileall
import os
from collections.abc import Iterator
from pathlib import Path

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


ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chain", "api", "nodes", "scripts", "tests")


def pytest_configure(config: pytest.Config) -> None:
    """In CI (``CI`` set, as ``.ci/run`` does) the run ends with its 20 slowest tests, so a
    test that makes the suite slow is seen the day it lands.

    Before any test (in the run's first process, not again in each xdist worker) the
    project's own modules are compiled to bytecode: where Python may not write its cache
    (PYTHONDONTWRITEBYTECODE, as on the project's machines), every process the tests start
    (nodes, their ledger and read replica, each ``scf-node`` command) would compile the
    few hundred it imports from source, 0.6 s of CPU per node start. The packages
    installed from the lock file are compiled at install (``compile-bytecode``); a module
    changed since is compiled from source as usual, and again here at the next run."""
    if os.environ.get("CI") and config.option.durations is None:
        config.option.durations = 20
    if not hasattr(config, "workerinput"):
        for package in PACKAGES:
            compileall.compile_dir(ROOT / package, quiet=1, workers=1)
