"""The member portal in a real browser (Debian's chromium, driven by Playwright) against a
real development node (``scf-node start --dev``): sign in, see holdings, split-transfer,
maker-checker (an operator prepares, an approver confirms, the recipient sees it), the
core enterprise's screens (确权, the lineage tree, repayment), and the refusals a person
must meet — a forged form (CSRF), guessed passwords (rate limit), a name with markup
(escaping), a session that ended. Screenshots of each screen at desktop and phone width
go to ``test-artifacts/portal/`` (CI keeps that directory).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from nodes.demo import Endpoints, Story
from nodes.runtime.dev_node import dev_node

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "portal"
PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}


def _chromium() -> str | None:
    for candidate in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


CHROMIUM = _chromium()
if CHROMIUM is None:
    if os.environ.get("CI"):  # .ci/run installs it: there, a missing browser is a failure
        raise RuntimeError("Debian's chromium is not installed: apt-get install chromium")
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    Dialog,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)


@dataclass
class PortalNode:
    url: str  # http://localhost:<port>: browsers keep Secure cookies from localhost
    home: Path
    story: Story
    certificate: int  # tier 1's
    tier2_certificate: int
    invitations: dict[str, tuple[str, str]]  # who -> (e-mail, invitation code)

    def email(self, who: str) -> str:
        return self.invitations[who][0]


def _invite(story: Story, handle: str, name: str, role: str, tag: str = "") -> tuple[str, str]:
    """The member's API key holder invites a user: its e-mail and invitation code."""
    email = f"{handle}{tag}-{role}@{story.run_tag}.example"
    body = {"name": name, "email": email, "role": role}
    invitation = story.who(handle).post("/v1/portal/users", body)
    return email, str(invitation["invitation_code"])


@pytest.fixture(scope="module")
def started_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalNode]:
    """A development node with the demo's companies, tier 1's certificate, and users
    invited (their passwords not yet set)."""
    home = tmp_path_factory.mktemp("portal") / "home"
    # failed sign-ins never refill during the test: the limit is met by count, not by time;
    # every browser signs in from 127.0.0.1, so the per-address burst is the story's size
    env = {
        "SCF_PORTAL_SIGN_IN_REFILL_SECONDS_PER_ACCOUNT": "86400",
        "SCF_PORTAL_SIGN_IN_BURST_PER_CLIENT": "100",
    }
    with dev_node(home, home.parent / "node.log", env=env) as running:
        key = (home / "operator-api-key").read_text("utf-8").strip()
        story = Story(Endpoints(running.api_url, running.rpc_url, key), Console(quiet=True))
        story.onboard(story.client(key))  # the demo's five companies, admitted by vote
        certificate = _issue(story, "tier1", "00000001")
        tier2_certificate = _issue(story, "tier2", "00000003")
        invitations = {
            "tier1": _invite(story, "tier1", "Wang Fang", "operator"),
            "tier1-viewer": _invite(story, "tier1", "Zhao Lei", "viewer"),
            "xss": _invite(story, "tier2", XSS, "operator"),
            "guessed": _invite(story, "tier3", "Sun Li", "approver"),
            "tier2-maker": _invite(story, "tier2", "Li Na", "operator", tag="-mc"),
            "tier2-checker": _invite(story, "tier2", "Chen Jie", "approver", tag="-mc"),
            "maker": _invite(story, "maker", "Liu Yang", "approver"),
            "bank": _invite(story, "bank", "Chen Jing", "approver"),
        }
        port = running.api_url.rsplit(":", 1)[1]
        url = f"http://localhost:{port}"
        yield PortalNode(url, home, story, certificate, tier2_certificate, invitations)


def _issue(story: Story, holder: str, invoice_number: str) -> int:
    """The maker's certificate to ``holder`` against its confirmed invoice, over REST."""
    bank, maker, seller = story.who("bank"), story.who("maker"), story.who(holder)
    now = story.chain_time()
    line = bank.grant_credit_line(story.id_of("maker"), "3000000.00", "2031-12-31")
    document = seller.store_document(
        b"invoice for the portal", "invoice.txt", [story.id_of("maker")]
    )
    issued = datetime.fromtimestamp(now, UTC).date()
    invoice = seller.register_invoice(
        invoice_code=f"37{story.run_tag}",
        invoice_number=invoice_number,
        buyer_id=story.id_of("maker"),
        amount="600000.00",
        issue_date=issued.isoformat(),
        due_date=(issued + timedelta(days=120)).isoformat(),
        document_hash=document["hash"],
    )
    maker.confirm_invoice(invoice["key"])
    root = maker.issue_certificate(
        holder_id=story.id_of(holder),
        face_value="600000.00",
        maturity=(issued + timedelta(days=90)).isoformat(),
        credit_line_id=line["id"],
        invoice_keys=[invoice["key"]],
    )
    return int(root["id"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", viewport=SIZES["desktop"])
    opened = context.new_page()
    errors: list[str] = []
    # script errors and CSP refusals; a refusal's 4xx status is the page working as meant
    opened.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == [], errors  # no script error, no CSP violation


@pytest.fixture(scope="module")
def node(browser: Browser, started_node: PortalNode) -> PortalNode:
    """The node once each invited person has set its password on the welcome page, as a
    newcomer does."""
    node = started_node
    context = browser.new_context(locale="en-US", viewport=SIZES["desktop"])
    page = context.new_page()
    for who, (email, code) in node.invitations.items():
        page.goto(f"{node.url}/portal/sign-in")
        page.get_by_role("link", name="Set your password with your invitation code").click()
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Invitation code").fill(code)
        page.get_by_label("New password", exact=True).fill(PASSWORD)
        page.get_by_label("New password again").fill(PASSWORD)
        if who == "tier1":
            _shoot(page, "00-welcome")
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_role("status")).to_have_text("Your password is set. Sign in with it.")
    context.close()
    return node


def _shoot(page: Page, name: str) -> None:
    """The screen at desktop and phone width, for people to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        # the page fits the screen once its chart has followed the new width
        page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])


def _sign_in(page: Page, node: PortalNode, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{node.url}/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _holdings(node: PortalNode, handle: str) -> dict[int, str]:
    client = node.story.who(handle)
    held = client.certificates(holder_id=node.story.id_of(handle))["items"]
    return {int(c["id"]): str(c["value"]) for c in held}


def test_a_supplier_signs_in_sees_its_holdings_and_splits_a_certificate(
    page: Page, node: PortalNode
) -> None:
    page.goto(f"{node.url}/")
    expect(page).to_have_url(f"{node.url}/portal/sign-in")
    _shoot(page, "01-sign-in")
    _sign_in(page, node, node.email("tier1"))
    expect(page).to_have_url(f"{node.url}/portal/holdings")
    row = page.locator(f'tr[data-certificate="{node.certificate}"]')
    expect(row).to_contain_text("600000.00")
    expect(row).to_contain_text("Qingdao Hearth Home Appliances")
    expect(page.locator("#maturity-chart svg")).to_be_visible()  # ECharts, served by the node
    _shoot(page, "02-holdings")

    before = _holdings(node, "tier2")
    page.get_by_label("From certificate").select_option(str(node.certificate))
    page.get_by_label("To member").select_option(str(node.story.id_of("tier2")))
    page.get_by_label("Amount (CNY)").fill("250000.00")
    page.get_by_role("button", name="Transfer").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile("Changzhou Precision .* now holds certificate #")
    )
    after = _holdings(node, "tier2")
    [child] = set(after) - set(before)
    assert after[child] == "250000.00"
    assert _holdings(node, "tier1")[node.certificate] == "350000.00"
    expect(row).to_contain_text("350000.00")
    _shoot(page, "03-transferred")

    page.get_by_label("To member").select_option(str(node.story.id_of("tier2")))
    page.get_by_label("Amount (CNY)").fill("999999.00")  # more than the certificate holds
    page.get_by_role("button", name="Transfer").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The certificate's value is less than the amount."
    )
    expect(page.get_by_role("alert")).to_contain_text("CertificateInsufficientValue")
    _shoot(page, "04-refused")
    assert _holdings(node, "tier1")[node.certificate] == "350000.00"

    page.get_by_role("link", name="中文").click()
    expect(page.locator("h1")).to_have_text("持有的凭证")
    _shoot(page, "05-holdings-zh")


def test_a_form_posted_from_another_page_is_refused(page: Page, node: PortalNode) -> None:
    _sign_in(page, node, node.email("tier1"))
    expect(page).to_have_url(f"{node.url}/portal/holdings")
    before = _holdings(node, "tier1")
    # a page that forged the form: right fields, a token that is not the session's
    page.evaluate(
        """() => {
            const form = document.getElementById("transfer");
            form.querySelector("[name=csrf_token]").value = "forged";
            form.querySelector("[name=amount]").value = "1.00";
            form.submit();
        }"""
    )
    expect(page.get_by_role("alert")).to_contain_text("did not come from the portal")
    _shoot(page, "06-csrf-refused")
    assert _holdings(node, "tier1") == before


def test_guessed_passwords_are_stopped(page: Page, node: PortalNode) -> None:
    email = node.email("guessed")
    for _ in range(5):  # SCF_PORTAL_SIGN_IN_BURST_PER_ACCOUNT
        _sign_in(page, node, email, "not the password")
        expect(page.get_by_role("alert")).to_have_text("The e-mail, password or code is not right.")
    _sign_in(page, node, email)  # the right password, too late
    expect(page.get_by_role("alert")).to_contain_text("Too many attempts")
    expect(page).to_have_url(f"{node.url}/portal/sign-in")
    _shoot(page, "07-rate-limited")


def test_a_name_with_markup_is_shown_as_text(page: Page, node: PortalNode) -> None:
    dialogs: list[str] = []

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)
    _sign_in(page, node, node.email("xss"))
    expect(page.locator(".who")).to_contain_text(XSS)  # the text itself, not a script
    assert dialogs == []
    _shoot(page, "08-markup-as-text")


def test_an_idle_session_ends_and_asks_to_sign_in_again(page: Page, node: PortalNode) -> None:
    _sign_in(page, node, node.email("tier1-viewer"))
    expect(page.get_by_text("Viewers cannot transfer")).to_be_visible()
    # the session was last seen longer ago than SCF_PORTAL_SESSION_IDLE_SECONDS
    with sqlite3.connect(node.home / "scf.db") as db:
        db.execute(
            "UPDATE portal_sessions SET last_seen_at = last_seen_at - 3600 "
            "WHERE ended_at IS NULL AND user_id = "
            "(SELECT id FROM portal_users WHERE email = ?)",
            (node.email("tier1-viewer"),),
        )
    page.reload()
    expect(page).to_have_url(f"{node.url}/portal/sign-in")
    _shoot(page, "09-session-ended")


def test_a_supplier_registers_an_invoice_with_its_document(
    page: Page, node: PortalNode, tmp_path: Path
) -> None:
    scan = tmp_path / "invoice-00000002.pdf"
    scan.write_bytes(b"%PDF-1.4 invoice 00000002, tier 1 to the maker")
    issued = datetime.fromtimestamp(node.story.chain_time(), UTC).date()
    _sign_in(page, node, node.email("tier1"))
    page.get_by_role("link", name="Invoices").click()
    expect(page.locator("h1")).to_have_text("Invoices")
    form = page.locator("#register-invoice")
    form.get_by_label("Invoice code").fill(f"37{node.story.run_tag}")
    form.get_by_label("Invoice number").fill("00000002")
    form.get_by_label("Buyer").select_option(str(node.story.id_of("maker")))
    form.get_by_label("Amount (CNY)").fill("80000.00")
    form.get_by_label("Issue date").fill(issued.isoformat())
    form.get_by_label("Due date").fill((issued + timedelta(days=60)).isoformat())
    form.get_by_label("Invoice document").set_input_files(str(scan))
    _shoot(page, "10-invoice-form")
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_role("status")).to_contain_text("Invoice 00000002 of 80000.00")
    invoices = node.story.who("maker").invoices()["items"]
    [invoice] = [i for i in invoices if i["invoice_number"] == "00000002"]
    assert invoice["status"] == "registered"
    expect(page.locator(f'tr[data-invoice="{invoice["key"]}"]')).to_contain_text("registered")
    _shoot(page, "11-invoice-registered")


def test_a_supplier_gets_a_quote_and_requests_financing(
    page: Page, node: PortalNode, tmp_path: Path
) -> None:
    agreement = tmp_path / "factoring-agreement.txt"
    agreement.write_bytes(b"factoring agreement: tier 1 and the bank")
    _sign_in(page, node, node.email("tier1"))
    page.get_by_role("link", name="Financing").click()
    quote = page.locator("#quote")
    quote.get_by_label("From certificate").select_option(str(node.certificate))
    quote.get_by_label("Amount (CNY)").fill("50000.00")
    quote.get_by_label("Annual rate (basis points)").fill("500")
    quote.get_by_role("button", name="Quote").click()
    quoted = node.story.who("tier1").quote_financing(
        "50000.00", 500, certificate_id=node.certificate
    )
    expect(page.locator("#quote-result")).to_contain_text(quoted["price"])
    _shoot(page, "12-financing-quote")

    form = page.locator("#request-financing")
    form.get_by_label("From certificate").select_option(str(node.certificate))
    form.get_by_label("Financier").select_option(str(node.story.id_of("bank")))
    form.get_by_label("Amount (CNY)").fill("50000.00")
    form.get_by_label("Highest rate you accept (bp)").fill("600")
    expires = datetime.fromtimestamp(node.story.chain_time(), UTC).date() + timedelta(days=7)
    form.get_by_label("Offer open until (UTC)").fill(expires.isoformat())
    form.get_by_label("Financing agreement (document)").set_input_files(str(agreement))
    form.get_by_role("button", name="Request").click()
    expect(page.get_by_role("status")).to_contain_text(
        "for 50000.00 sent to Bank of the Yellow Sea"
    )
    held = node.story.who("tier1").certificate(node.certificate)
    assert held["locked"] == "50000.00"
    _shoot(page, "13-financing-requested")


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{page.url.split('/portal/')[0]}/portal/sign-in")


def test_with_maker_checker_an_operator_prepares_and_an_approver_confirms(
    page: Page, node: PortalNode
) -> None:
    """Tier 2 holds its people's transfers for a second person: Li Na (经办) prepares a
    split transfer to tier 1, Chen Jie (复核) sees exactly the call and confirms it, and
    tier 1's Wang Fang finds the certificate among its holdings."""
    setting = node.story.who("tier2").post("/v1/portal/maker-checker", {"enabled": True})
    assert setting["enabled"] is True
    held = node.tier2_certificate
    before = _holdings(node, "tier1")

    _sign_in(page, node, node.email("tier2-maker"))
    expect(page.get_by_text("Maker-checker is on")).to_be_visible()
    page.get_by_label("From certificate").select_option(str(held))
    page.get_by_label("To member").select_option(str(node.story.id_of("tier1")))
    page.get_by_label("Amount (CNY)").fill("120000.00")
    page.get_by_role("button", name="Transfer").click()
    expect(page.get_by_role("status")).to_contain_text("waits for an approver to confirm it")
    _shoot(page, "20-transfer-prepared")
    assert _holdings(node, "tier1") == before  # nothing sent yet
    assert _holdings(node, "tier2")[held] == "600000.00"
    _sign_out(page)

    _sign_in(page, node, node.email("tier2-checker"))
    page.get_by_role("link", name="Approvals").click()
    action = page.locator("article.action").first
    expect(action).to_contain_text("Prepared by Li Na")
    expect(action).to_contain_text(f"POST /v1/certificates/{held}/transfers")
    expect(action).to_contain_text('"amount": "120000.00"')
    expect(action).to_contain_text(f'"to_member_id": {node.story.id_of("tier1")}')
    expect(action).to_contain_text("Ningbo Cold-Chain Compressor")
    _shoot(page, "21-approval-waiting")
    action.get_by_role("button", name="Confirm and send").click()
    expect(page.get_by_role("status")).to_contain_text("was confirmed and sent")
    expect(page.locator("#decided")).to_contain_text("confirmed and done")
    expect(page.locator("#decided")).to_contain_text("Li Na")
    expect(page.locator("#decided")).to_contain_text("Chen Jie")
    _shoot(page, "22-approval-confirmed")
    after = _holdings(node, "tier1")
    [child] = set(after) - set(before)
    assert after[child] == "120000.00"
    assert _holdings(node, "tier2")[held] == "480000.00"
    _sign_out(page)

    _sign_in(page, node, node.email("tier1"))
    row = page.locator(f'tr[data-certificate="{child}"]')
    expect(row).to_contain_text("120000.00")
    _shoot(page, "23-recipient-holds-it")


def test_the_core_enterprise_confirms_an_invoice_sees_the_tree_and_repays(
    page: Page, node: PortalNode
) -> None:
    story = node.story
    tier1, maker_id = story.who("tier1"), story.id_of("maker")
    document = tier1.store_document(b"invoice 00000004", "invoice.txt", [maker_id])
    issued = datetime.fromtimestamp(story.chain_time(), UTC).date()
    invoice = tier1.register_invoice(
        invoice_code=f"37{story.run_tag}",
        invoice_number="00000004",
        buyer_id=maker_id,
        amount="30000.00",
        issue_date=issued.isoformat(),
        due_date=(issued + timedelta(days=30)).isoformat(),
        document_hash=document["hash"],
    )

    _sign_in(page, node, node.email("maker"))
    page.get_by_role("link", name="Invoices").click()
    waiting = page.locator(f'#to-confirm article[data-invoice="{invoice["key"]}"]')
    expect(waiting).to_contain_text("30000.00")
    expect(waiting).to_contain_text("Ningbo Cold-Chain Compressor")
    _shoot(page, "30-invoices-to-confirm")
    waiting.get_by_role("button", name="Confirm: we owe it").click()
    expect(page.get_by_role("status")).to_contain_text("is now confirmed by the buyer")
    [confirmed] = [i for i in story.who("maker").invoices()["items"] if i["key"] == invoice["key"]]
    assert confirmed["status"] == "confirmed"

    root = node.tier2_certificate
    story.who("tier2").transfer(root, story.id_of("tier3"), "10000.00")  # one tier down
    page.get_by_role("link", name="Issued").click()
    row = page.locator(f'tr[data-root="{root}"]')
    expect(row).to_contain_text("600000.00")
    expect(row).to_contain_text("to repay at maturity")
    row.get_by_role("link", name="Lineage").click()
    lineage = page.locator("#lineage")
    expect(lineage.locator("#lineage-chart svg")).to_be_visible()  # ECharts' tree
    tree = story.who("maker").lineage(root)
    assert tree["children"]
    for child in tree["children"]:
        expect(lineage.locator(f'li[data-certificate="{child["id"]}"]').first).to_contain_text(
            child["value"]
        )
    _shoot(page, "31-lineage-tree")

    # no settlement balance yet: the ledger's refusal, in words
    page.get_by_role("button", name=f"Repay certificate #{root}: 600000.00").click()
    expect(page.get_by_role("alert")).to_contain_text("settlement balance is too low")
    _shoot(page, "32-repay-refused")
    story.who("bank").mint(maker_id, "600000.00", "0x" + "ab" * 32)
    page.get_by_role("button", name=f"Repay certificate #{root}: 600000.00").click()
    expect(page.get_by_role("status")).to_contain_text(f"Certificate #{root} is repaid")
    expect(page.locator(f'tr[data-root="{root}"]')).to_contain_text("repaid")
    _shoot(page, "33-repaid")


def test_the_financier_approves_a_request_from_its_inbox(page: Page, node: PortalNode) -> None:
    story = node.story
    tier1, bank = story.who("tier1"), story.who("bank")
    bank_id = story.id_of("bank")
    agreement = tier1.store_document(b"factoring agreement 2", "agreement.txt", [bank_id])
    expires = datetime.fromtimestamp(story.chain_time(), UTC) + timedelta(days=7)
    asked = tier1.request_financing(
        certificate_id=node.certificate,
        financier_id=bank_id,
        amount="20000.00",
        max_rate_bps=650,
        agreement_hash=agreement["hash"],
        expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    bank.mint(bank_id, "20000.00", "0x" + "cd" * 32)  # what the bank pays out with

    _sign_in(page, node, node.email("bank"))
    page.get_by_role("link", name="Inbox").click()
    card = page.locator(f'article[data-request="{asked["id"]}"]')
    expect(card).to_contain_text("Ningbo Cold-Chain Compressor")
    expect(card).to_contain_text("20000.00")
    _shoot(page, "40-financing-inbox")
    card.get_by_label("Rate (bp)").fill("900")  # above what tier 1 accepts
    card.get_by_role("button", name="Approve and pay").click()
    expect(page.get_by_role("alert")).to_contain_text("above what the requester accepts")
    card = page.locator(f'article[data-request="{asked["id"]}"]')
    card.get_by_label("Rate (bp)").fill("600")
    card.get_by_role("button", name="Approve and pay").click()
    expect(page.get_by_role("status")).to_contain_text("was paid to Ningbo Cold-Chain")
    expect(page.locator(f'#inbox-decided tr[data-request="{asked["id"]}"]')).to_contain_text(
        "approved and paid"
    )
    _shoot(page, "41-financing-approved")
    [approved] = [r for r in bank.get("/v1/financing-requests")["items"] if r["id"] == asked["id"]]
    assert (approved["status"], approved["rate_bps"]) == ("approved", 600)


def test_holdings_follow_the_ledger_without_a_reload(page: Page, node: PortalNode) -> None:
    """A certificate issued to tier 1 over REST while its viewer looks at the holdings
    appears in the list, from the event stream; the page is not loaded again."""
    _sign_in(page, node, node.email("tier1-viewer"))
    expect(page).to_have_url(f"{node.url}/portal/holdings")
    page.evaluate("() => { window.notReloaded = true; }")
    issued = _issue(node.story, "tier1", "00000009")
    row = page.locator(f'tr[data-certificate="{issued}"]')
    expect(row).to_contain_text("600000.00", timeout=30_000)
    expect(page.locator("#live-status")).to_contain_text("Updated from the ledger at")
    assert page.evaluate("() => window.notReloaded") is True
    expect(page.locator("#maturity-chart svg")).to_be_visible()  # drawn again
    _shoot(page, "06-holdings-live")
