"""The whole story through the member portal, in a real browser (Debian's chromium driven
by Playwright) against a real development node: a supplier registers an invoice with its
document; the core enterprise confirms it (确权) and issues a certificate, which its
approver confirms (the core enterprise has maker-checker on, 经办/复核); the supplier
splits it to a tier-2 supplier found by the recipient search; tier 2 requests financing;
the bank, which minted its settlement tokens on its settlement page, sees the price in
its inbox and approves; the ledger's clock moves to maturity; the core enterprise, its
calendar showing what falls due, repays (confirmed by its approver); every holder
redeems. Each screen is checked against the REST API and shot at desktop and phone width
into ``test-artifacts/portal/story-*.png``; ``docs/images/portal.png`` is the desktop shot of
the supplier's holdings after its transfer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from rich.console import Console

from api.wire import utc_midnight
from nodes.demo import Endpoints, Story
from nodes.runtime.dev_node import dev_node
from tests.e2e.test_portal_browser import PASSWORD, SIZES, _shoot, browser, page  # noqa: F401

DAY = 86_400
PEOPLE = {  # who: (member handle, name, role)
    "supplier": ("tier1", "Wang Fang", "operator"),
    "core-maker": ("maker", "Liu Yang", "operator"),
    "core-checker": ("maker", "Zhou Min", "approver"),
    "tier2": ("tier2", "Li Na", "operator"),
    "bank": ("bank", "Chen Jing", "approver"),
}


@dataclass
class StoryNode:
    url: str  # http://localhost:<port>: browsers keep Secure cookies from localhost
    story: Story
    emails: dict[str, str]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[StoryNode]:  # noqa: F811
    """A development node with the demo's companies, the bank's credit line to the core
    enterprise, maker-checker on for the core enterprise, and each person's password set
    on the welcome page."""
    home = tmp_path_factory.mktemp("story") / "home"
    env = {"SCF_PORTAL_SIGN_IN_BURST_PER_CLIENT": "100"}  # every browser is 127.0.0.1
    with dev_node(home, home.parent / "node.log", env=env) as running:
        key = (home / "operator-api-key").read_text("utf-8").strip()
        story = Story(Endpoints(running.api_url, running.rpc_url, key), Console(quiet=True))
        story.onboard(story.client(key))
        story.who("bank").grant_credit_line(story.id_of("maker"), "3000000.00", "2031-12-31")
        assert story.who("maker").post("/v1/portal/maker-checker", {"enabled": True})["enabled"]
        port = running.api_url.rsplit(":", 1)[1]
        node = StoryNode(f"http://localhost:{port}", story, {})
        context = browser.new_context(locale="en-US", viewport=SIZES["desktop"])
        welcome = context.new_page()
        for who, (handle, name, role) in PEOPLE.items():
            email = f"{who}@{story.run_tag}.example"
            invited = story.who(handle).post(
                "/v1/portal/users", {"name": name, "email": email, "role": role}
            )
            welcome.goto(f"{node.url}/portal/welcome")
            welcome.get_by_label("E-mail").fill(email)
            welcome.get_by_label("Invitation code").fill(invited["invitation_code"])
            welcome.get_by_label("New password", exact=True).fill(PASSWORD)
            welcome.get_by_label("New password again").fill(PASSWORD)
            welcome.get_by_role("button", name="Set password").click()
            expect(welcome.get_by_role("status")).to_contain_text("Your password is set")
            node.emails[who] = email
        context.close()
        yield node


def _as(page: Page, node: StoryNode, who: str) -> None:  # noqa: F811
    """Sign out whoever is signed in and sign ``who`` in."""
    page.context.clear_cookies()
    page.goto(f"{node.url}/portal/sign-in")
    page.get_by_label("E-mail").fill(node.emails[who])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{node.url}/portal/holdings")


def _confirm_pending(page: Page, node: StoryNode, call: str) -> None:  # noqa: F811
    """The core enterprise's approver confirms the one action waiting, which is ``call``."""
    _as(page, node, "core-checker")
    _go(page, "Approvals")
    action = page.locator("article.action").first
    expect(action).to_contain_text("Prepared by Liu Yang")
    expect(action).to_contain_text(call)
    action.get_by_role("button", name="Confirm and send").click()
    expect(page.get_by_role("status")).to_contain_text("was confirmed and sent")


def _go(page: Page, screen: str) -> None:  # noqa: F811
    """Open a screen from the navigation bar."""
    page.locator("header nav").get_by_role("link", name=screen, exact=True).click()


def _mint(page: Page, to: int, amount: str, record: Path) -> None:  # noqa: F811
    """The signed-in financier mints ``amount`` to member ``to`` on its settlement page."""
    _go(page, "Settlement")
    form = page.locator("#mint")
    form.get_by_label("To member").select_option(str(to))
    form.get_by_label("Amount (CNY)").fill(amount)
    form.get_by_label("Deposit record (document)").set_input_files(str(record))
    form.get_by_role("button", name="Mint").click()
    expect(page.get_by_role("status")).to_contain_text(f"{amount} minted")


def _held(node: StoryNode, handle: str) -> dict[int, dict[str, Any]]:
    client = node.story.who(handle)
    listed = client.certificates(holder_id=node.story.id_of(handle))["items"]
    return {int(c["id"]): c for c in listed}


def test_the_whole_story_through_the_portal(
    page: Page,  # noqa: F811
    node: StoryNode,
    tmp_path: Path,
) -> None:
    story = node.story
    maker_id, tier1_id, tier2_id, bank_id = (
        story.id_of(h) for h in ("maker", "tier1", "tier2", "bank")
    )
    today = datetime.fromtimestamp(story.chain_time(), UTC).date()

    # 1. the supplier registers its invoice with the scanned document
    scan = tmp_path / "invoice-00000071.pdf"
    scan.write_bytes(b"%PDF-1.4 invoice 00000071: compressors for the maker")
    _as(page, node, "supplier")
    _go(page, "Invoices")
    form = page.locator("#register-invoice")
    form.get_by_label("Invoice code").fill(f"37{story.run_tag}")
    form.get_by_label("Invoice number").fill("00000071")
    form.get_by_label("Buyer").select_option(str(maker_id))
    form.get_by_label("Amount (CNY)").fill("600000.00")
    form.get_by_label("Issue date").fill(today.isoformat())
    form.get_by_label("Due date").fill((today + timedelta(days=90)).isoformat())
    form.get_by_label("Invoice document").set_input_files(str(scan))
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text("Invoice 00000071 of 600000.00")
    [invoice] = [
        i for i in story.who("tier1").invoices()["items"] if i["invoice_number"] == "00000071"
    ]
    expect(page.locator(f'tr[data-invoice="{invoice["key"]}"]')).to_contain_text("registered")
    _shoot(page, "story-01-invoice-registered")

    # 2. the core enterprise's clerk confirms it (确权) and prepares the certificate
    _as(page, node, "core-maker")
    _go(page, "Invoices")
    waiting = page.locator(f'#to-confirm article[data-invoice="{invoice["key"]}"]')
    expect(waiting).to_contain_text("Ningbo Cold-Chain Compressor")
    waiting.get_by_role("button", name="Confirm: we owe it").click()
    expect(page.get_by_role("status")).to_contain_text("is now confirmed by the buyer")
    _shoot(page, "story-02-invoice-confirmed")
    _go(page, "Issued")
    issue = page.locator("#issue-certificate")
    issue.locator(f'input[name="invoice_keys"][value="{invoice["key"]}"]').check()
    issue.get_by_label("Issued to").select_option(str(tier1_id))
    issue.get_by_label("Face value (CNY)").fill("600000.00")
    maturity = today + timedelta(days=60)
    issue.get_by_label("Maturity").fill(maturity.isoformat())
    expect(issue.get_by_label("Credit line it draws on")).to_contain_text("Bank of the Yellow Sea")
    issue.get_by_role("button", name="Issue").click()
    expect(page.get_by_role("status")).to_contain_text("waits for an approver to confirm it")
    assert _held(node, "tier1") == {}  # nothing issued yet
    _shoot(page, "story-03-issue-prepared")

    # 3. its approver (复核) sees exactly the call and confirms it
    _confirm_pending(page, node, "POST /v1/certificates")
    [(root, issued)] = _held(node, "tier1").items()
    assert (issued["value"], issued["maturity"]) == ("600000.00", maturity.isoformat())
    expect(page.locator("#decided")).to_contain_text("Zhou Min")
    _shoot(page, "story-04-issue-confirmed")

    # 4. the supplier finds tier 2 by name and splits the certificate to it
    _as(page, node, "supplier")
    row = page.locator(f'tr[data-certificate="{root}"]')
    expect(row).to_contain_text("600000.00")
    expect(row).to_contain_text("Qingdao Hearth Home Appliances")
    page.get_by_label("Find a member").fill("changzhou")
    recipients = page.get_by_label("To member").locator("option")
    expect(recipients).to_have_count(2)  # "Choose a member" and the one found
    page.get_by_label("To member").select_option(str(tier2_id))
    page.get_by_label("From certificate").select_option(str(root))
    page.get_by_label("Amount (CNY)").fill("250000.00")
    _shoot(page, "story-05-transfer-form")
    page.get_by_role("button", name="Transfer").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile("Changzhou Precision .* now holds certificate #")
    )
    [(piece, to_tier2)] = _held(node, "tier2").items()
    assert to_tier2["value"] == "250000.00"
    expect(row).to_contain_text("350000.00")
    _shoot(page, "story-06-transferred")

    # 5. tier 2 asks the bank to discount 100000.00 of it, after a quote
    agreement = tmp_path / "factoring-agreement.txt"
    agreement.write_bytes(
        b"factoring agreement: Changzhou Precision and the Bank of the Yellow Sea"
    )
    _as(page, node, "tier2")
    _go(page, "Financing")
    quote = page.locator("#quote")
    quote.get_by_label("From certificate").select_option(str(piece))
    quote.get_by_label("Amount (CNY)").fill("100000.00")
    quote.get_by_label("Annual rate (basis points)").fill("600")
    quote.get_by_role("button", name="Quote").click()
    quoted = story.who("tier2").quote_financing("100000.00", 600, certificate_id=piece)
    expect(page.locator("#quote-result")).to_contain_text(quoted["price"])
    request = page.locator("#request-financing")
    request.get_by_label("From certificate").select_option(str(piece))
    request.get_by_label("Financier").select_option(str(bank_id))
    request.get_by_label("Amount (CNY)").fill("100000.00")
    request.get_by_label("Highest rate you accept (bp)").fill("600")
    request.get_by_label("Offer open until (UTC)").fill((today + timedelta(days=7)).isoformat())
    request.get_by_label("Financing agreement (document)").set_input_files(str(agreement))
    request.get_by_role("button", name="Request").click()
    expect(page.get_by_role("status")).to_contain_text("sent to Bank of the Yellow Sea")
    _shoot(page, "story-07-financing-requested")

    # 6. the bank mints what it pays with, sees the price in its inbox, and approves
    record = tmp_path / "deposit-record.txt"
    record.write_bytes(b"deposit of 100000.00 by the bank itself")
    _as(page, node, "bank")
    _mint(page, bank_id, "100000.00", record)
    _go(page, "Inbox")
    [asked] = [r for r in story.who("bank").get("/v1/financing-requests")["items"]]
    card = page.locator(f'article[data-request="{asked["id"]}"]')
    expect(card).to_contain_text("Changzhou Precision")
    expect(card).to_contain_text("600000.00 — Qingdao Hearth")  # the root's face value
    at_max = story.who("tier2").quote_financing("100000.00", 600, certificate_id=piece)
    expect(card.locator(f'[data-quoted="{asked["id"]}"]')).to_have_text(at_max["price"])
    _shoot(page, "story-08-inbox-with-price")
    card.get_by_label("Rate (bp)").fill("550")
    card.get_by_role("button", name="Approve and pay").click()
    expect(page.get_by_role("status")).to_contain_text("was paid to Changzhou Precision")
    approved = story.who("bank").get(f"/v1/financing-requests/{asked['id']}")
    assert (approved["status"], approved["rate_bps"]) == ("approved", 550)
    financed = int(approved["financed_certificate_id"])
    assert Decimal(story.who("tier2").balance()["balance"]) == Decimal(approved["price"])
    _shoot(page, "story-09-financing-approved")
    _go(page, "Credit")
    portfolio = page.locator(f'#portfolio-by-core tr[data-core="{maker_id}"]')
    expect(portfolio).to_contain_text("100000.00")
    expect(portfolio).to_contain_text("3000000.00")
    _shoot(page, "story-10-bank-portfolio")

    # 7. the ledger's clock moves to maturity; the bank mints the core enterprise's funds
    story.rpc("evm_increaseTime", utc_midnight(maturity) - story.chain_time() + DAY)
    story.rpc("evm_mine")
    _mint(page, maker_id, "600000.00", record)

    # 8. the core enterprise's calendar shows the root due; its clerk repays, approved
    _as(page, node, "core-maker")
    _go(page, "Credit")
    due = page.locator(f'#repayments-due tr[data-root="{root}"]')
    expect(due).to_contain_text("600000.00")
    expect(due).to_contain_text(maturity.isoformat())
    expect(due).to_contain_text("matured: to repay now")
    expect(page.locator("#calendar-balance")).to_have_text("600000.00")
    _shoot(page, "story-11-repayment-calendar")
    _go(page, "Issued")
    page.get_by_role("button", name=f"Repay certificate #{root}: 600000.00").click()
    expect(page.get_by_role("status")).to_contain_text("waits for an approver to confirm it")
    _confirm_pending(page, node, "POST /v1/repayments")
    _go(page, "Issued")
    expect(page.locator(f'tr[data-root="{root}"]')).to_contain_text("repaid")
    _shoot(page, "story-12-repaid")

    # 9. every holder redeems what it holds
    for who, handle, certificate, amount in (
        ("supplier", "tier1", root, "350000.00"),
        ("tier2", "tier2", piece, "150000.00"),
        ("bank", "bank", financed, "100000.00"),
    ):
        before = Decimal(story.who(handle).balance()["balance"])
        _as(page, node, who)
        page.get_by_role("button", name=f"Redeem certificate #{certificate}: {amount}").click()
        expect(page.get_by_role("status")).to_contain_text(f"{amount} was paid")
        after = Decimal(story.who(handle).balance()["balance"])
        assert after - before == Decimal(amount)
        _shoot(page, f"story-13-redeemed-{handle}")
    assert all(Decimal(c["value"]) == 0 for c in _held(node, "tier1").values())
    assert story.who("maker").certificate(root)["repaid"] is True
