"""The whole story of one payable, with every amount computed by hand.

Core Motors owes Tier-1 Parts 1 000 000.00 on two confirmed invoices and pays with a
180-day certificate drawn on its credit line at First Bank. Tier 1 pays Tier 2 with
700 000.00 of it, Tier 2 pays Tier 3 with 250 000.00; 30 days later Tier 3 discounts
200 000.00 at First Bank at 4.35 % a year. At maturity Core Motors repays and every holder
redeems.
"""

from __future__ import annotations

from chain.scf import InvoiceStatus
from tests.helpers import (
    DAY,
    World,
    approve_financing,
    approve_tokens,
    balance,
    certificate,
    confirmed_invoice,
    doc_hash,
    grant_line,
    mint,
    now,
    request_financing,
    root,
    split,
    travel_to,
)


def test_core_to_tier3_discounting_maturity_and_redemption(world: World) -> None:
    c = world.consortium
    core, tier1, tier2, tier3, bank = world.core, world.tier1, world.tier2, world.tier3, world.bank

    # 1. First Bank grants Core Motors a 5 000 000.00 line; Core Motors confirms two invoices.
    line = grant_line(world, bank, core, 5_000_000_00)
    invoices = [
        confirmed_invoice(world, tier1, core, 600_000_00),
        confirmed_invoice(world, tier1, core, 400_000_00),
    ]

    # 2. Core Motors issues a 1 000 000.00 certificate maturing in 180 days.
    maturity = now(world.ledger) + 180 * DAY
    receipt = c.certificates.transact(
        core.signer, "issueCertificate", tier1.id, 1_000_000_00, maturity, line, invoices
    )
    root_id = int(c.certificates.event_args(receipt, "CertificateIssued")["id"])
    assert c.credit_lines.call("availableOf", line) == 4_000_000_00
    for key in invoices:
        assert c.invoices.call("getInvoice", key)[7:] == (InvoiceStatus.ASSIGNED, root_id)

    # 3. Split transfers down the tiers.
    to_tier2 = split(world, tier1, root_id, tier2, 700_000_00)
    to_tier3 = split(world, tier2, to_tier2, tier3, 250_000_00)
    assert [certificate(c, i).value for i in (root_id, to_tier2, to_tier3)] == [
        300_000_00,
        450_000_00,
        250_000_00,
    ]

    # 4. Money enters the ledger: First Bank's own deposit, and Core Motors' deposit for later.
    mint(world, bank, bank, 1_000_000_00)
    mint(world, bank, core, 1_000_000_00)

    # 5. Thirty days in, Tier 3 discounts 200 000.00 at 4.35 % with 150 days to run:
    #    200 000.00 x 4.35 % x 150 / 365 = 3 575.342... -> discount 3 575.35, price 196 424.65
    #    Tier 3 accepts at most 4.50 %: the bank cannot approve at a worse rate.
    request_id = request_financing(
        world, tier3, to_tier3, bank, 200_000_00, expires_in=40 * DAY, max_rate_bps=450
    )
    approve_tokens(world, bank, c.financing.address, 196_424_65)
    travel_to(world.ledger, maturity - 150 * DAY)
    receipt = approve_financing(world, bank, request_id, 435)
    approved = c.financing.event_args(receipt, "FinancingApproved")
    assert (approved["daysToMaturity"], approved["discount"], approved["price"]) == (
        150,
        3_575_35,
        196_424_65,
    )
    financed = int(approved["financedCertificateId"])
    assert balance(c, tier3) == 196_424_65
    assert balance(c, bank) == 803_575_35

    # The lineage from First Bank's certificate back to the root: 穿透式追溯.
    chain_up, current = [], financed
    while current:
        chain_up.append(current)
        current = c.certificates.call("parentOf", current)
    assert chain_up == [financed, to_tier3, to_tier2, root_id]
    assert [certificate(c, i).holder_id for i in chain_up] == [
        bank.id,
        tier3.id,
        tier2.id,
        tier1.id,
    ]
    assert certificate(c, financed).depth == 3

    # 6. Maturity: Core Motors repays the face value; its line is whole again.
    travel_to(world.ledger, maturity)
    approve_tokens(world, core, c.maturity.address, 1_000_000_00)
    c.maturity.transact(core.signer, "repay", root_id)
    assert c.credit_lines.call("usedOf", line) == 0
    assert balance(c, c.maturity.address) == 1_000_000_00

    # 7. Every holder redeems its certificate.
    for holder, cert_id, value in (
        (tier1, root_id, 300_000_00),
        (tier2, to_tier2, 450_000_00),
        (tier3, to_tier3, 50_000_00),
        (bank, financed, 200_000_00),
    ):
        assert certificate(c, cert_id).value == value
        c.maturity.transact(holder.signer, "redeem", cert_id)
        assert certificate(c, cert_id).redeemed_value == value

    # 8. Tier 3 cashes out at First Bank, which burns what it takes back.
    c.settlement.transact(tier3.signer, "transfer", bank.address, 246_424_65)
    c.settlement.transact(bank.signer, "burn", 246_424_65, doc_hash("tier 3 withdrawal"))

    # Everything, by hand.
    assert root(c, root_id).redeemed_value == 1_000_000_00
    assert balance(c, c.maturity.address) == 0
    assert {m.name: balance(c, m) for m in (core, tier1, tier2, tier3, bank)} == {
        core.name: 0,  # deposited 1 000 000.00, repaid 1 000 000.00
        tier1.name: 300_000_00,
        tier2.name: 450_000_00,
        tier3.name: 0,  # 196 424.65 + 50 000.00 = 246 424.65, withdrawn
        bank.name: 1_003_575_35,  # 1 000 000.00 - 196 424.65 + 200 000.00: earned 3 575.35
    }
    assert c.settlement.call("totalSupply") == 1_753_575_35  # 2 000 000.00 - 246 424.65
    assert c.settlement.call("totalMinted") == 2_000_000_00
    assert c.settlement.call("totalBurned") == 246_424_65
