"""Node-level permissioning: the embedded node takes raw transactions only from active members
and governors, once the consortium is deployed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.accounts import Signer
from chain.backends.embedded import EmbeddedLedger
from chain.contract import send_transaction
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.embedded.permissions import NOT_PERMITTED
from chain.errors import TransactionRefused
from chain.roles import Role
from tests.helpers import admit_member, govern, new_credit_code, new_signer


@pytest.fixture(scope="module")
def permissioned(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedLedger, Consortium, Signer]]:
    path = tmp_path_factory.mktemp("permissioned")
    ledger = EmbeddedLedger(path / "chain", dev=True)
    governor = new_signer(ledger)  # no deployment yet: everyone may send (genesis bootstrap)
    spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
    consortium = deploy_consortium(ledger, governor, spec)
    consortium.save(path / "deployment.json")
    ledger.close()
    reopened = EmbeddedLedger(path / "chain", dev=True, deployment=path / "deployment.json")
    yield reopened, Consortium.load(reopened, path / "deployment.json"), governor
    reopened.close()


def _transfer(ledger: EmbeddedLedger, sender: Signer) -> int:
    receipt = send_transaction(
        ledger, sender, to=Signer.create().address, data=b"", gas=21_000, value=0
    )
    return int(receipt["status"])


def _assert_refused(ledger: EmbeddedLedger, sender: Signer) -> None:
    with pytest.raises(TransactionRefused) as info:
        _transfer(ledger, sender)
    expected = f"sender {sender.address} is not an active member of the consortium"
    assert info.value.message == expected
    assert info.value.details["rpc_error"]["code"] == NOT_PERMITTED


def test_a_non_member_is_refused_with_a_clear_error(
    permissioned: tuple[EmbeddedLedger, Consortium, Signer],
) -> None:
    ledger, _, _ = permissioned
    outsider = new_signer(ledger)  # the --dev faucet may still fund accounts
    nonce_before = ledger.get_transaction_count(outsider.address)
    _assert_refused(ledger, outsider)
    assert ledger.get_transaction_count(outsider.address) == nonce_before


def test_active_members_and_governors_pass_suspended_members_do_not(
    permissioned: tuple[EmbeddedLedger, Consortium, Signer],
) -> None:
    ledger, consortium, governor = permissioned
    member = admit_member(consortium, governor, [Role.SUPPLIER])
    assert _transfer(ledger, member.signer) == 1
    assert _transfer(ledger, governor) == 1

    govern(consortium, governor, (consortium.members, "suspendMember", (member.id,)))
    _assert_refused(ledger, member.signer)

    govern(consortium, governor, (consortium.members, "reinstateMember", (member.id,)))
    assert _transfer(ledger, member.signer) == 1


def test_without_a_deployment_everyone_may_send(tmp_path: Path) -> None:
    ledger = EmbeddedLedger(tmp_path / "chain", dev=True, deployment=tmp_path / "none.json")
    try:
        assert _transfer(ledger, new_signer(ledger)) == 1
    finally:
        ledger.close()


def test_a_governance_handed_to_a_contract_that_is_no_governance_admits_no_one_more(
    tmp_path: Path,
) -> None:
    """A governance whose only governor is a contract is asked through it (a migration's
    successor, chain/migration.py); a contract that answers no `isGovernor` (a multisig, a
    registry) admits nobody, and refuses cleanly."""
    ledger = EmbeddedLedger(tmp_path / "chain", dev=True)
    try:
        governor = new_signer(ledger)
        spec = MemberSpec("Operator", new_credit_code(), [Role.AUDITOR], governor.address)
        consortium = deploy_consortium(ledger, governor, spec)
        ledger.admit_only_members(consortium.members.address, consortium.governance.address)
        outsider = new_signer(ledger)
        govern(consortium, governor,
               (consortium.governance, "setGovernor", (consortium.members.address, 1)),
               (consortium.governance, "setGovernor", (governor.address, 0)))  # fmt: skip
        assert consortium.governance.call("governors") == [consortium.members.address]
        with pytest.raises(TransactionRefused, match="not an active member") as refused:
            _transfer(ledger, outsider)
        assert refused.value.details["rpc_error"]["code"] == NOT_PERMITTED
        assert _transfer(ledger, governor)  # still a member
    finally:
        ledger.close()
