"""CreditLines: grant, change the limit, close; draw and restore by the certificates contract."""

from __future__ import annotations

import pytest

from chain.contract import deploy_contract
from chain.roles import Role
from chain.scf import CreditLineStatus
from tests.helpers import (
    DAY,
    World,
    approve_tokens,
    confirmed_invoice,
    govern,
    grant_line,
    issue_certificate,
    mint,
    now,
    pause,
    reverts,
    root,
    suspend,
)

ZERO_ADDRESS = "0x" + "00" * 20
LIMIT = 5_000_000_00


def line_of(world: World, line_id: int) -> tuple[int, ...]:
    result: tuple[int, ...] = world.consortium.credit_lines.call("getCreditLine", line_id)
    return result


def numbers(world: World, line_id: int) -> tuple[int, int, int]:
    lines = world.consortium.credit_lines
    return (
        lines.call("limitOf", line_id),
        lines.call("usedOf", line_id),
        lines.call("availableOf", line_id),
    )


# ---- grant --------------------------------------------------------------------------------


def test_a_financier_grants_a_core_enterprise_a_line(world: World) -> None:
    lines = world.consortium.credit_lines
    expires = now(world.ledger) + 365 * DAY
    receipt = lines.transact(world.bank.signer, "grantCreditLine", world.core.id, LIMIT, expires)
    assert lines.event_args(receipt, "CreditLineGranted") == {
        "lineId": 1,
        "financierId": world.bank.id,
        "borrowerId": world.core.id,
        "limit": LIMIT,
        "expiresAt": expires,
    }
    granted_at = now(world.ledger)
    assert line_of(world, 1) == (
        1,
        world.bank.id,
        world.core.id,
        LIMIT,
        0,
        expires,
        granted_at,
        CreditLineStatus.OPEN,
    )
    assert numbers(world, 1) == (LIMIT, 0, LIMIT)
    assert lines.call("creditLineCount") == 1


@pytest.mark.parametrize("who", ["core", "tier1", "outsider"])
def test_only_active_financiers_grant(world: World, who: str) -> None:
    signer = world.outsider if who == "outsider" else getattr(world, who).signer
    with reverts("MemberUnauthorizedAccount", signer.address, Role.FINANCIER.id):
        world.consortium.credit_lines.transact(
            signer, "grantCreditLine", world.core.id, LIMIT, now(world.ledger) + DAY
        )


def test_grant_validates_borrower_limit_and_expiry(world: World) -> None:
    lines = world.consortium.credit_lines
    later = now(world.ledger) + DAY
    for borrower in (0, world.tier1.id, world.bank2.id, 999):
        with reverts("CreditLineInvalidBorrower", borrower):
            lines.transact(world.bank.signer, "grantCreditLine", borrower, LIMIT, later)
    for limit in (0, 2**128):
        with reverts("CreditLineInvalidLimit", limit, 0):
            lines.transact(world.bank.signer, "grantCreditLine", world.core.id, limit, later)
    for expires in (now(world.ledger), 2**40):
        with reverts("CreditLineInvalidExpiry", expires):
            lines.transact(world.bank.signer, "grantCreditLine", world.core.id, LIMIT, expires)
    suspend(world, world.core)
    with reverts("CreditLineInvalidBorrower", world.core.id):
        lines.transact(world.bank.signer, "grantCreditLine", world.core.id, LIMIT, later)


# ---- limit and closing --------------------------------------------------------------------


def test_the_financier_changes_the_limit_never_below_use(world: World) -> None:
    lines = world.consortium.credit_lines
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    issue_certificate(world, world.core, world.tier1, 1_000_000_00, line_id=line_id)
    assert numbers(world, line_id) == (LIMIT, 1_000_000_00, 4_000_000_00)

    receipt = lines.transact(world.bank.signer, "setLimit", line_id, 2_000_000_00)
    assert lines.event_args(receipt, "CreditLineLimitChanged") == {
        "lineId": line_id,
        "previousLimit": LIMIT,
        "newLimit": 2_000_000_00,
    }
    assert numbers(world, line_id) == (2_000_000_00, 1_000_000_00, 1_000_000_00)
    lines.transact(world.bank.signer, "setLimit", line_id, 1_000_000_00)  # exactly the use
    assert numbers(world, line_id) == (1_000_000_00, 1_000_000_00, 0)
    for bad in (999_999_99, 0, 2**128):
        with reverts("CreditLineInvalidLimit", bad, 1_000_000_00):
            lines.transact(world.bank.signer, "setLimit", line_id, bad)


def test_only_the_lines_financier_changes_or_closes_it(world: World) -> None:
    lines = world.consortium.credit_lines
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    for member in (world.bank2, world.core):
        with reverts("CreditLineUnauthorizedFinancier", member.address, line_id, world.bank.id):
            lines.transact(member.signer, "setLimit", line_id, 1)
        with reverts("CreditLineUnauthorizedFinancier", member.address, line_id, world.bank.id):
            lines.transact(member.signer, "closeCreditLine", line_id)
    suspend(world, world.bank)
    with reverts("CreditLineUnauthorizedFinancier", world.bank.address, line_id, world.bank.id):
        lines.transact(world.bank.signer, "closeCreditLine", line_id)


def test_unknown_lines_are_reported(world: World) -> None:
    lines = world.consortium.credit_lines
    for function in ("getCreditLine", "limitOf", "usedOf", "availableOf"):
        with reverts("CreditLineNotFound", 7):
            lines.call(function, 7)
    with reverts("CreditLineNotFound", 7):
        lines.transact(world.bank.signer, "setLimit", 7, 1)
    with reverts("CreditLineNotFound", 7):
        lines.transact(world.bank.signer, "closeCreditLine", 7)


def test_closing_stops_draws_but_repayment_still_restores(world: World) -> None:
    consortium, lines = world.consortium, world.consortium.credit_lines
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    root_id = issue_certificate(
        world, world.core, world.tier1, 300_000_00, line_id=line_id, maturity_in=10 * DAY
    )

    receipt = lines.transact(world.bank.signer, "closeCreditLine", line_id)
    assert lines.event_args(receipt, "CreditLineClosed") == {
        "lineId": line_id,
        "used": 300_000_00,
    }
    assert line_of(world, line_id)[7] == CreditLineStatus.CLOSED
    assert numbers(world, line_id) == (LIMIT, 300_000_00, 0)
    with reverts("CreditLineInvalidStatus", line_id, CreditLineStatus.CLOSED):
        lines.transact(world.bank.signer, "closeCreditLine", line_id)
    with reverts("CreditLineInvalidStatus", line_id, CreditLineStatus.CLOSED):
        lines.transact(world.bank.signer, "setLimit", line_id, LIMIT)
    with reverts("CreditLineInvalidStatus", line_id, CreditLineStatus.CLOSED):
        issue_certificate(world, world.core, world.tier1, 1_00, line_id=line_id)

    mint(world, world.bank, world.core, 300_000_00)
    approve_tokens(world, world.core, consortium.maturity.address, 300_000_00)
    receipt = consortium.maturity.transact(world.core.signer, "repay", root_id)
    assert lines.event_args(receipt, "CreditLineRestored") == {
        "lineId": line_id,
        "certificateId": root_id,
        "amount": 300_000_00,
        "used": 0,
    }
    assert numbers(world, line_id) == (LIMIT, 0, 0)


# ---- draw and restore ---------------------------------------------------------------------


def test_issuing_draws_and_repaying_restores(world: World) -> None:
    consortium, lines = world.consortium, world.consortium.credit_lines
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    first = issue_certificate(world, world.core, world.tier1, 2_000_000_00, line_id=line_id)
    assert numbers(world, line_id) == (LIMIT, 2_000_000_00, 3_000_000_00)
    second = issue_certificate(world, world.core, world.tier2, 3_000_000_00, line_id=line_id)
    assert numbers(world, line_id) == (LIMIT, LIMIT, 0)

    with reverts("CreditLineInsufficientAvailable", line_id, 0, 1):
        issue_certificate(world, world.core, world.tier1, 1, line_id=line_id)

    mint(world, world.bank, world.core, 2_000_000_00)
    approve_tokens(world, world.core, consortium.maturity.address, 2_000_000_00)
    receipt = consortium.maturity.transact(world.core.signer, "repay", first)
    assert lines.event_args(receipt, "CreditLineRestored") == {
        "lineId": line_id,
        "certificateId": first,
        "amount": 2_000_000_00,
        "used": 3_000_000_00,
    }
    assert numbers(world, line_id) == (LIMIT, 3_000_000_00, 2_000_000_00)
    assert root(consortium, second).line_id == line_id


def test_a_draw_records_its_certificate(world: World) -> None:
    consortium = world.consortium
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    key = confirmed_invoice(world, world.tier1, world.core, 1_00)
    receipt = consortium.certificates.transact(
        world.core.signer,
        "issueCertificate",
        world.tier1.id,
        1_00,
        now(world.ledger) + DAY,
        line_id,
        [key],
    )
    root_id = consortium.certificates.event_args(receipt, "CertificateIssued")["id"]
    assert consortium.credit_lines.event_args(receipt, "CreditLineDrawn") == {
        "lineId": line_id,
        "certificateId": root_id,
        "amount": 1_00,
        "used": 1_00,
    }


def test_draws_need_the_borrowers_own_open_unexpired_line(world: World) -> None:
    bank_line_of_core2 = grant_line(world, world.bank, world.core2, LIMIT)
    with reverts("CreditLineNotBorrower", bank_line_of_core2, world.core2.id, world.core.id):
        issue_certificate(world, world.core, world.tier1, 1_00, line_id=bank_line_of_core2)
    with reverts("CreditLineNotFound", 99):
        issue_certificate(world, world.core, world.tier1, 1_00, line_id=99)

    short = grant_line(world, world.bank, world.core, LIMIT, expires_in=DAY)
    world.ledger.increase_time(DAY)
    expires = line_of(world, short)[5]
    with reverts("CreditLineExpired", short, expires):
        issue_certificate(world, world.core, world.tier1, 1_00, line_id=short)
    assert numbers(world, short) == (LIMIT, 0, 0)


def test_only_the_certificates_contract_draws_and_restores(world: World) -> None:
    lines = world.consortium.credit_lines
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    for signer in (world.core.signer, world.bank.signer, world.governor):
        with reverts("CreditLineUnauthorizedCaller", signer.address):
            lines.transact(signer, "draw", line_id, world.core.id, 1, 1)
        with reverts("CreditLineUnauthorizedCaller", signer.address):
            lines.transact(signer, "restore", line_id, 1, 1)


def test_the_certificates_contract_is_wired_once_by_governance(world: World) -> None:
    consortium = world.consortium
    lines = consortium.credit_lines
    assert lines.call("certificates") == consortium.certificates.address
    with reverts("ConsortiumUnauthorizedGovernance", world.governor.address):
        lines.transact(world.governor, "setCertificates", world.outsider.address)
    with reverts("CreditLineCertificatesAlreadySet", consortium.certificates.address):
        govern(consortium, world.governor, (lines, "setCertificates", (world.outsider.address,)))

    fresh = deploy_contract(
        world.ledger,
        world.governor,
        "CreditLines",
        consortium.governance.address,
        consortium.members.address,
    )
    with reverts("ConsortiumZeroAddress"):
        govern(consortium, world.governor, (fresh, "setCertificates", (ZERO_ADDRESS,)))
    # a restore the line cannot absorb, through a line contract wired to a plain account
    govern(consortium, world.governor, (fresh, "setCertificates", (world.bank.address,)))
    fresh.transact(
        world.bank.signer, "grantCreditLine", world.core.id, LIMIT, now(world.ledger) + DAY
    )
    with reverts("CreditLineExcessiveRestore", 1, 0, 1):
        fresh.transact(world.bank.signer, "restore", 1, 1, 1)
    with reverts("ConsortiumZeroAddress"):
        deploy_contract(
            world.ledger, world.governor, "CreditLines", consortium.governance.address, ZERO_ADDRESS
        )


def test_pause_stops_every_write_but_not_the_views(world: World) -> None:
    lines = world.consortium.credit_lines
    line_id = grant_line(world, world.bank, world.core, LIMIT)
    pause(world.consortium, world.governor)
    later = now(world.ledger) + DAY
    with reverts("ConsortiumPaused"):
        lines.transact(world.bank.signer, "grantCreditLine", world.core.id, LIMIT, later)
    with reverts("ConsortiumPaused"):
        lines.transact(world.bank.signer, "setLimit", line_id, 1)
    with reverts("ConsortiumPaused"):
        lines.transact(world.bank.signer, "closeCreditLine", line_id)
    assert numbers(world, line_id) == (LIMIT, 0, LIMIT)
