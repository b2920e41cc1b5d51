"""Factories and assertions shared by the test suites."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.credit_code import make_credit_code
from chain.deploy import Consortium, MemberSpec
from chain.errors import ContractRevert
from chain.governance import (
    Call,
    ProposalState,
    execution_failure,
    pass_proposal,
    proposal_state,
    propose,
)
from chain.ledger import Ledger
from chain.roles import Role

FUNDING_WEI = 10**20
_serial = itertools.count(1)


def new_signer(ledger: Ledger) -> Signer:
    """A fresh account with ether for gas."""
    signer = Signer.create()
    ledger.fund(signer.address, FUNDING_WEI)
    return signer


def new_credit_code() -> str:
    """A valid, never-repeated unified social credit code."""
    return make_credit_code(f"91110000{next(_serial):09d}")


@dataclass(frozen=True)
class Member:
    id: int
    signer: Signer
    name: str
    credit_code: str

    @property
    def address(self) -> str:
        return self.signer.address


def admit_member(
    consortium: Consortium,
    governor: Signer,
    roles: Sequence[Role],
    name: str | None = None,
    voters: Sequence[Signer] = (),
) -> Member:
    """Admit a new company with a fresh funded account through a governance proposal."""
    signer = new_signer(consortium.ledger)
    spec = MemberSpec(
        name=name or f"Company {next(_serial)}",
        credit_code=new_credit_code(),
        roles=roles,
        account=signer.address,
    )
    pass_proposal(
        consortium.governance,
        governor,
        [(consortium.members, "admitMember", spec.admit_args())],
        f"Admit {spec.name}",
        voters,
    )
    member_id = int(consortium.members.call("memberOf", signer.address))
    return Member(member_id, signer, spec.name, spec.credit_code)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    if isinstance(actual, tuple | list) and isinstance(expected, tuple | list):
        return len(actual) == len(expected) and all(
            _same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    return bool(actual == expected)


@contextmanager
def reverts(error_name: str, *args: Any) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
    """Expect a ``ContractRevert`` named ``error_name``, with exactly ``args`` when given."""
    with pytest.raises(ContractRevert) as info:
        yield info
    error = info.value
    assert error.error_name == error_name, f"expected {error_name}, got {error.message}"
    if args:
        assert _same(error.args_tuple, args), f"expected {error_name}{args}, got {error.message}"


def govern(consortium: Consortium, governor: Signer, *calls: Call) -> TxReceipt:
    """Run ``calls`` through an admin-mode proposal.

    If the execution fails, raise the ``ContractRevert`` of the action that failed, so that
    tests assert the target contract's own custom error.
    """
    gov = consortium.governance
    proposal_id, receipt = propose(gov, governor, calls, "test")
    failure = execution_failure(gov, receipt)
    if failure is not None:
        raise failure
    assert proposal_state(gov, proposal_id) is ProposalState.EXECUTED
    return receipt
