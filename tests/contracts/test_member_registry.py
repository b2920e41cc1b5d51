"""MemberRegistry: admission, status, roles, bound accounts and the membership checks.

Every write goes through a governance proposal of the session consortium, which
runs in admin mode (the deployer is the only governor), so a proposal executes
when it is created. The operator organization is member 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

import pytest
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.contract import ContractHandle, deploy_contract
from chain.credit_code import credit_code_hash
from chain.deploy import Consortium
from chain.ledger import Ledger
from chain.roles import BIT_OF_ROLE, Role
from tests.helpers import govern, new_credit_code, new_signer, reverts

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = b"\0" * 32
MAX_ACCOUNTS = 8
UNKNOWN_ROLE = keccak(text="TREASURER")
OPERATOR_ID = 1


class MemberStatus(IntEnum):
    """Mirror of ``IMemberRegistry.MemberStatus``."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


def event_names(contract: ContractHandle, receipt: TxReceipt) -> list[str]:
    return [e["event"] for e in contract.events(receipt)]


def role_ids(roles: Sequence[Role]) -> list[bytes]:
    return [role.id for role in roles]


class Registry:
    """The consortium's MemberRegistry driven by its only governor."""

    def __init__(self, consortium: Consortium, governor: Signer, ledger: Ledger) -> None:
        self.consortium = consortium
        self.members = consortium.members
        self.governor = governor
        self.ledger = ledger

    def write(self, function: str, *args: Any) -> TxReceipt:
        return govern(self.consortium, self.governor, (self.members, function, args))

    def admit(
        self,
        roles: Sequence[Role] = (Role.SUPPLIER,),
        *,
        name: str = "Hangzhou Parts Co., Ltd.",
        credit_code: str | None = None,
        account: str | None = None,
        fingerprint: bytes = ZERO_HASH,
    ) -> tuple[int, TxReceipt]:
        code_hash = credit_code_hash(credit_code or new_credit_code())
        account = account or new_signer(self.ledger).address
        receipt = self.write("admitMember", name, code_hash, role_ids(roles), account, fingerprint)
        member_id = int(self.members.event_args(receipt, "MemberAdmitted")["memberId"])
        return member_id, receipt

    def member(self, member_id: int) -> tuple[Any, ...]:
        result: tuple[Any, ...] = self.members.call("getMember", member_id)
        return result

    def accounts(self, member_id: int) -> list[str]:
        return [Web3.to_checksum_address(a) for a in self.members.call("accountsOf", member_id)]

    def call(self, function: str, *args: Any) -> Any:
        return self.members.call(function, *args)


@pytest.fixture
def registry(consortium: Consortium, deployer: Signer, ledger: Ledger) -> Registry:
    return Registry(consortium, deployer, ledger)


def new_address() -> str:
    return Signer.create().address


# ---- admission ----------------------------------------------------------------------------


def test_operator_is_the_first_member(registry: Registry, deployer: Signer) -> None:
    assert registry.call("memberCount") == 1
    assert registry.call("memberOf", deployer.address) == OPERATOR_ID
    assert registry.call("isActiveMember", deployer.address, Role.AUDITOR.id) is True


def test_admit_member_records_everything_and_emits_events(registry: Registry) -> None:
    code = new_credit_code()
    account = new_address()
    fingerprint = keccak(text="certificate")

    member_id, receipt = registry.admit(
        [Role.SUPPLIER, Role.FINANCIER],
        name="Suzhou Steel",
        credit_code=code,
        account=account,
        fingerprint=fingerprint,
    )

    assert member_id == 2
    assert event_names(registry.members, receipt) == [
        "MemberAdmitted",
        "MemberAccountBound",
        "MemberCertificateUpdated",
    ]
    admitted = registry.members.event_args(receipt, "MemberAdmitted")
    assert admitted == {
        "memberId": 2,
        "creditCodeHash": credit_code_hash(code),
        "name": "Suzhou Steel",
        "roles": 2 | 4,
        "account": account,
    }
    assert registry.members.event_args(receipt, "MemberAccountBound") == {
        "memberId": 2,
        "account": account,
    }
    block = registry.ledger.get_block(receipt["blockNumber"])
    assert registry.member(member_id) == (
        2,
        "Suzhou Steel",
        credit_code_hash(code),
        fingerprint,
        MemberStatus.ACTIVE,
        6,
        block["timestamp"],
        1,
    )
    assert registry.call("memberCount") == 2
    assert registry.call("memberOf", account) == member_id
    assert registry.call("memberIdByCreditCode", credit_code_hash(code)) == member_id
    assert registry.call("isAccountOf", member_id, account) is True
    assert registry.call("isAccountOf", OPERATOR_ID, account) is False
    assert registry.accounts(member_id) == [account]
    assert registry.call("isActiveMember", account, Role.SUPPLIER.id) is True
    assert registry.call("isActiveMember", account, Role.FINANCIER.id) is True
    assert registry.call("isActiveMember", account, Role.CORE_ENTERPRISE.id) is False
    assert registry.call("hasActiveRole", member_id, Role.FINANCIER.id) is True
    assert registry.call("requireActiveMember", account, Role.SUPPLIER.id) == member_id
    assert registry.call("requireActive", account) == member_id


def test_admission_without_fingerprint_emits_no_certificate_event(registry: Registry) -> None:
    _, receipt = registry.admit()
    assert event_names(registry.members, receipt) == ["MemberAdmitted", "MemberAccountBound"]


ADMISSION_ERRORS: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "empty name": (("", "code", [Role.SUPPLIER.id], "account"), ("MemberInvalidInput", "name")),
    "zero hash": (
        ("Co", ZERO_HASH, [Role.SUPPLIER.id], "account"),
        ("MemberInvalidInput", "creditCodeHash"),
    ),
    "no roles": (("Co", "code", [], "account"), ("MemberInvalidInput", "roles")),
    "zero account": (
        ("Co", "code", [Role.SUPPLIER.id], ZERO_ADDRESS),
        ("MemberInvalidInput", "account"),
    ),
    "unknown role": (
        ("Co", "code", [Role.SUPPLIER.id, UNKNOWN_ROLE], "account"),
        ("MemberUnknownRole", UNKNOWN_ROLE),
    ),
}


@pytest.mark.parametrize(("args", "error"), ADMISSION_ERRORS.values(), ids=ADMISSION_ERRORS.keys())
def test_admission_validates_its_input(
    registry: Registry, args: tuple[Any, ...], error: tuple[Any, ...]
) -> None:
    name, code_hash, roles, account = args
    code_hash = credit_code_hash(new_credit_code()) if code_hash == "code" else code_hash
    account = new_address() if account == "account" else account
    with reverts(*error):
        registry.write("admitMember", name, code_hash, roles, account, ZERO_HASH)
    assert registry.call("memberCount") == 1


def test_a_credit_code_can_be_registered_only_once(registry: Registry) -> None:
    code = new_credit_code()
    member_id, _ = registry.admit(credit_code=code)
    with reverts("MemberAlreadyRegistered", credit_code_hash(code), member_id):
        registry.admit(credit_code=code)


def test_an_account_can_belong_to_one_member_only(registry: Registry, deployer: Signer) -> None:
    with reverts("MemberAccountAlreadyBound", deployer.address, OPERATOR_ID):
        registry.admit(account=deployer.address)


def test_role_bits(registry: Registry) -> None:
    assert [registry.call("roleBit", role.id) for role in Role] == [1, 2, 4, 8]
    assert {role: registry.call("roleBit", role.id) for role in Role} == BIT_OF_ROLE
    with reverts("MemberUnknownRole", UNKNOWN_ROLE):
        registry.call("roleBit", UNKNOWN_ROLE)


# ---- status -------------------------------------------------------------------------------


def test_suspend_and_reinstate(registry: Registry) -> None:
    account = new_address()
    member_id, _ = registry.admit([Role.SUPPLIER], account=account)

    receipt = registry.write("suspendMember", member_id)

    assert event_names(registry.members, receipt) == ["MemberSuspended"]
    assert registry.member(member_id)[4] == MemberStatus.SUSPENDED
    assert registry.call("isActiveMember", account, Role.SUPPLIER.id) is False
    assert registry.call("hasActiveRole", member_id, Role.SUPPLIER.id) is False
    with reverts("MemberUnauthorizedAccount", account, Role.SUPPLIER.id):
        registry.call("requireActiveMember", account, Role.SUPPLIER.id)
    with reverts("MemberInvalidStatus", member_id, MemberStatus.SUSPENDED):
        registry.call("requireActive", account)
    with reverts("MemberInvalidStatus", member_id, MemberStatus.SUSPENDED):
        registry.write("suspendMember", member_id)

    receipt = registry.write("reinstateMember", member_id)

    assert event_names(registry.members, receipt) == ["MemberReinstated"]
    assert registry.member(member_id)[4] == MemberStatus.ACTIVE
    assert registry.call("requireActiveMember", account, Role.SUPPLIER.id) == member_id
    with reverts("MemberInvalidStatus", member_id, MemberStatus.ACTIVE):
        registry.write("reinstateMember", member_id)


# ---- roles --------------------------------------------------------------------------------


def test_grant_and_revoke_roles(registry: Registry) -> None:
    account = new_address()
    member_id, _ = registry.admit([Role.SUPPLIER], account=account)

    receipt = registry.write("grantRole", member_id, Role.FINANCIER.id)
    assert registry.members.event_args(receipt, "MemberRoleGranted") == {
        "memberId": member_id,
        "role": Role.FINANCIER.id,
    }
    assert registry.member(member_id)[5] == 2 | 4
    assert registry.call("isActiveMember", account, Role.FINANCIER.id) is True
    with reverts("MemberRoleAlreadyGranted", member_id, Role.FINANCIER.id):
        registry.write("grantRole", member_id, Role.FINANCIER.id)

    receipt = registry.write("revokeRole", member_id, Role.SUPPLIER.id)
    assert registry.members.event_args(receipt, "MemberRoleRevoked") == {
        "memberId": member_id,
        "role": Role.SUPPLIER.id,
    }
    assert registry.member(member_id)[5] == 4
    with reverts("MemberUnauthorizedAccount", account, Role.SUPPLIER.id):
        registry.call("requireActiveMember", account, Role.SUPPLIER.id)
    with reverts("MemberRoleNotGranted", member_id, Role.SUPPLIER.id):
        registry.write("revokeRole", member_id, Role.SUPPLIER.id)
    with reverts("MemberUnknownRole", UNKNOWN_ROLE):
        registry.write("grantRole", member_id, UNKNOWN_ROLE)
    with reverts("MemberUnknownRole", UNKNOWN_ROLE):
        registry.write("revokeRole", member_id, UNKNOWN_ROLE)


def test_a_member_without_roles_is_active_but_passes_no_role_check(registry: Registry) -> None:
    account = new_address()
    member_id, _ = registry.admit([Role.SUPPLIER], account=account)
    registry.write("revokeRole", member_id, Role.SUPPLIER.id)

    assert registry.member(member_id)[5] == 0
    assert registry.call("requireActive", account) == member_id
    for role in Role:
        with reverts("MemberUnauthorizedAccount", account, role.id):
            registry.call("requireActiveMember", account, role.id)


# ---- accounts -----------------------------------------------------------------------------


def test_bind_and_unbind_accounts(registry: Registry) -> None:
    first, second = new_address(), new_address()
    member_id, _ = registry.admit(account=first)

    receipt = registry.write("bindAccount", member_id, second)

    assert registry.members.event_args(receipt, "MemberAccountBound") == {
        "memberId": member_id,
        "account": second,
    }
    assert registry.accounts(member_id) == [first, second]
    assert registry.member(member_id)[7] == 2
    assert registry.call("memberOf", second) == member_id
    assert registry.call("requireActiveMember", second, Role.SUPPLIER.id) == member_id

    receipt = registry.write("unbindAccount", member_id, first)

    assert registry.members.event_args(receipt, "MemberAccountUnbound") == {
        "memberId": member_id,
        "account": first,
    }
    assert registry.accounts(member_id) == [second]
    assert registry.member(member_id)[7] == 1
    assert registry.call("memberOf", first) == 0
    assert registry.call("isAccountOf", member_id, first) is False
    with reverts("MemberUnknownAccount", first):
        registry.call("requireActive", first)
    with reverts("MemberUnauthorizedAccount", first, Role.SUPPLIER.id):
        registry.call("requireActiveMember", first, Role.SUPPLIER.id)


def test_binding_is_validated(registry: Registry, deployer: Signer) -> None:
    member_id, _ = registry.admit()
    with reverts("MemberAccountAlreadyBound", deployer.address, OPERATOR_ID):
        registry.write("bindAccount", member_id, deployer.address)
    with reverts("MemberInvalidInput", "account"):
        registry.write("bindAccount", member_id, ZERO_ADDRESS)


def test_a_member_holds_at_most_eight_accounts(registry: Registry) -> None:
    member_id, _ = registry.admit()
    extra = [new_address() for _ in range(MAX_ACCOUNTS - 1)]
    govern(
        registry.consortium,
        registry.governor,
        *[(registry.members, "bindAccount", (member_id, a)) for a in extra],
    )
    assert registry.member(member_id)[7] == MAX_ACCOUNTS

    with reverts("MemberAccountLimit", member_id, MAX_ACCOUNTS):
        registry.write("bindAccount", member_id, new_address())


def test_unbinding_is_validated(registry: Registry, deployer: Signer) -> None:
    account = new_address()
    member_id, _ = registry.admit(account=account)
    stranger = new_address()
    with reverts("MemberAccountNotBound", stranger, member_id):
        registry.write("unbindAccount", member_id, stranger)
    with reverts("MemberAccountNotBound", deployer.address, member_id):
        registry.write("unbindAccount", member_id, deployer.address)  # another member's account
    with reverts("MemberAccountLimit", member_id, MAX_ACCOUNTS):
        registry.write("unbindAccount", member_id, account)  # its last one
    assert registry.accounts(member_id) == [account]


def test_rotate_account_replaces_one_account_in_one_step(registry: Registry) -> None:
    old, kept, new = new_address(), new_address(), new_address()
    member_id, _ = registry.admit(account=old)
    registry.write("bindAccount", member_id, kept)

    receipt = registry.write("rotateAccount", member_id, old, new)

    assert [(e["event"], e["args"]["account"]) for e in registry.members.events(receipt)] == [
        ("MemberAccountUnbound", old),
        ("MemberAccountBound", new),
    ]
    assert sorted(registry.accounts(member_id)) == sorted([kept, new])
    assert registry.member(member_id)[7] == 2
    assert registry.call("memberOf", old) == 0
    assert registry.call("memberOf", new) == member_id


def test_rotation_is_validated(registry: Registry, deployer: Signer) -> None:
    account = new_address()
    member_id, _ = registry.admit(account=account)
    stranger = new_address()
    with reverts("MemberAccountNotBound", stranger, member_id):
        registry.write("rotateAccount", member_id, stranger, new_address())
    with reverts("MemberAccountAlreadyBound", deployer.address, OPERATOR_ID):
        registry.write("rotateAccount", member_id, account, deployer.address)
    with reverts("MemberAccountAlreadyBound", account, member_id):
        registry.write("rotateAccount", member_id, account, account)
    with reverts("MemberInvalidInput", "account"):
        registry.write("rotateAccount", member_id, account, ZERO_ADDRESS)
    assert registry.accounts(member_id) == [account]


def test_set_certificate_fingerprint(registry: Registry) -> None:
    member_id, _ = registry.admit()
    fingerprint = keccak(text="renewed certificate")

    receipt = registry.write("setCertificateFingerprint", member_id, fingerprint)

    assert registry.members.event_args(receipt, "MemberCertificateUpdated") == {
        "memberId": member_id,
        "fingerprint": fingerprint,
    }
    assert registry.member(member_id)[3] == fingerprint


# ---- checks for the business contracts -------------------------------------------------------


def test_membership_checks_refuse_strangers_and_unknown_roles(
    registry: Registry, deployer: Signer
) -> None:
    stranger = new_address()
    assert registry.call("memberOf", stranger) == 0
    assert registry.call("isActiveMember", stranger, Role.SUPPLIER.id) is False
    assert registry.call("isActiveMember", deployer.address, UNKNOWN_ROLE) is False
    assert registry.call("hasActiveRole", 99, Role.AUDITOR.id) is False
    assert registry.call("isAccountOf", 0, stranger) is False
    with reverts("MemberUnauthorizedAccount", stranger, Role.SUPPLIER.id):
        registry.call("requireActiveMember", stranger, Role.SUPPLIER.id)
    with reverts("MemberUnauthorizedAccount", deployer.address, Role.SUPPLIER.id):
        registry.call("requireActiveMember", deployer.address, Role.SUPPLIER.id)  # wrong role
    with reverts("MemberUnauthorizedAccount", deployer.address, UNKNOWN_ROLE):
        registry.call("requireActiveMember", deployer.address, UNKNOWN_ROLE)
    with reverts("MemberUnknownAccount", stranger):
        registry.call("requireActive", stranger)


@pytest.mark.parametrize("member_id", [0, 99])
def test_unknown_members_are_reported(registry: Registry, member_id: int) -> None:
    with reverts("MemberNotFound", member_id):
        registry.call("getMember", member_id)
    writes: list[tuple[str, tuple[Any, ...]]] = [
        ("suspendMember", ()),
        ("reinstateMember", ()),
        ("grantRole", (Role.SUPPLIER.id,)),
        ("revokeRole", (Role.SUPPLIER.id,)),
        ("bindAccount", (new_address(),)),
        ("unbindAccount", (new_address(),)),
        ("rotateAccount", (new_address(), new_address())),
        ("setCertificateFingerprint", (ZERO_HASH,)),
    ]
    for function, args in writes:
        with reverts("MemberNotFound", member_id):
            registry.write(function, member_id, *args)


def test_governance_can_admit_members_while_paused(registry: Registry) -> None:
    gov = registry.consortium.governance
    govern(registry.consortium, registry.governor, (gov, "pause", ()))
    member_id, _ = registry.admit()
    registry.write("suspendMember", member_id)
    assert registry.member(member_id)[4] == MemberStatus.SUSPENDED


def test_the_registry_needs_a_governance_address(ledger: Ledger, deployer: Signer) -> None:
    with reverts("ConsortiumZeroAddress"):
        deploy_contract(ledger, deployer, "MemberRegistry", ZERO_ADDRESS)


# ---- authorization --------------------------------------------------------------------------

WRITES: list[tuple[str, tuple[Any, ...]]] = [
    ("admitMember", ("Co", keccak(text="code"), [Role.SUPPLIER.id], "0x" + "22" * 20, ZERO_HASH)),
    ("suspendMember", (OPERATOR_ID,)),
    ("reinstateMember", (OPERATOR_ID,)),
    ("grantRole", (OPERATOR_ID, Role.SUPPLIER.id)),
    ("revokeRole", (OPERATOR_ID, Role.AUDITOR.id)),
    ("bindAccount", (OPERATOR_ID, "0x" + "33" * 20)),
    ("unbindAccount", (OPERATOR_ID, "0x" + "44" * 20)),
    ("rotateAccount", (OPERATOR_ID, "0x" + "44" * 20, "0x" + "55" * 20)),
    ("setCertificateFingerprint", (OPERATOR_ID, ZERO_HASH)),
]


@pytest.mark.parametrize(("function", "args"), WRITES, ids=[f for f, _ in WRITES])
@pytest.mark.parametrize("caller", ["governor", "member", "outsider"])
def test_only_governance_writes(
    registry: Registry, deployer: Signer, function: str, args: tuple[Any, ...], caller: str
) -> None:
    """Not even the governor's own account may call the registry directly."""
    signer = deployer if caller == "governor" else new_signer(registry.ledger)
    if caller == "member":
        registry.admit(account=signer.address)
    with reverts("ConsortiumUnauthorizedGovernance", signer.address):
        registry.members.transact(signer, function, *args)
