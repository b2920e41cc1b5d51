"""The oversight screens in a real browser (Debian's chromium, Playwright) against a real
development node: an auditor traces a certificate down every tier and explores the
ledger, the risk dashboard shows its charts and an alert as it is raised (Server-Sent
Events under the CSP), a governor votes a proposal through, and a supplier is refused
the explorer in words. Screenshots at desktop and phone width go to
``test-artifacts/portal/`` beside the member screens'.

The browser, its pages (which fail on any script error or CSP refusal) and the helpers
are the member screens' module's; the node is this module's own, whose committee it
changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect
from rich.console import Console

from chain.credit_code import make_credit_code
from nodes.demo import Endpoints, Story
from nodes.runtime.dev_node import dev_node
from tests.e2e.test_portal_browser import (
    PASSWORD,
    SIZES,
    _issue,
    _shoot,
    browser,
    page,
)

__all__ = ["browser", "page"]  # the member screens' fixtures, used here by name


@dataclass
class OversightNode:
    url: str
    story: Story
    operator_key: str
    certificates: dict[str, int]  # tier1's root, tier2's and tier3's splits of it
    emails: dict[str, str]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[OversightNode]:
    home = tmp_path_factory.mktemp("portal-oversight") / "home"
    env = {"SCF_PORTAL_SIGN_IN_BURST_PER_CLIENT": "100"}
    with dev_node(home, home.parent / "node.log", env=env) as running:
        key = (home / "operator-api-key").read_text("utf-8").strip()
        story = Story(Endpoints(running.api_url, running.rpc_url, key), Console(quiet=True))
        story.onboard(story.client(key))
        root = _issue(story, "tier1", "00000001")
        to_tier2 = story.who("tier1").transfer(root, story.id_of("tier2"), "200000.00")["id"]
        to_tier3 = story.who("tier2").transfer(to_tier2, story.id_of("tier3"), "80000.00")["id"]
        operator = story.client(key)
        people = {  # who: (its member's API client, name, role)
            "auditor": (operator, "Zhou Min", "viewer"),
            "governor": (story.who("bank"), "Chen Jing", "approver"),
            "tier1": (story.who("tier1"), "Wang Fang", "operator"),
        }
        emails: dict[str, str] = {}
        port = running.api_url.rsplit(":", 1)[1]
        url = f"http://localhost:{port}"  # browsers keep Secure cookies from localhost
        context = browser.new_context(locale="en-US", viewport=SIZES["desktop"])
        welcome = context.new_page()
        for who, (client, name, role) in people.items():
            email = f"{who}-oversight@{story.run_tag}.example"
            invited = client.post("/v1/portal/users", {"name": name, "email": email, "role": role})
            welcome.goto(f"{url}/portal/welcome")
            welcome.get_by_label("E-mail").fill(email)
            welcome.get_by_label("Invitation code").fill(str(invited["invitation_code"]))
            welcome.get_by_label("New password", exact=True).fill(PASSWORD)
            welcome.get_by_label("New password again").fill(PASSWORD)
            welcome.get_by_role("button", name="Set password").click()
            expect(welcome.get_by_role("status")).to_contain_text("Your password is set")
            emails[who] = email
        context.close()
        certificates = {"tier1": root, "tier2": int(to_tier2), "tier3": int(to_tier3)}
        yield OversightNode(url, story, key, certificates, emails)


def _sign_in(page: Page, url: str, email: str) -> None:
    page.goto(f"{url}/portal/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/portal/holdings")


def test_an_auditor_traces_a_certificate_and_explores_the_ledger(
    page: Page, node: OversightNode
) -> None:
    _sign_in(page, node.url, node.emails["auditor"])
    page.get_by_role("link", name="Audit").click()
    expect(page.locator("h1")).to_contain_text("lineage of any certificate")
    # by keyboard: the id typed and sent with Enter
    search = page.get_by_label("Certificate id")
    search.fill(str(node.certificates["tier3"]))
    search.press("Enter")
    lineage = page.locator("#lineage")
    expect(lineage.locator("#lineage-chart svg")).to_be_visible()
    expect(lineage.locator("li.focus").first).to_contain_text("80000.00")
    for tier in ("tier1", "tier2", "tier3"):
        expect(lineage.locator(f'li[data-certificate="{node.certificates[tier]}"]')).to_be_visible()
    _shoot(page, "50-audit-lineage")
    page.get_by_role("link", name="中文").click()
    expect(page.locator("h1")).to_have_text("审计：任意凭证的穿透式追溯")
    _shoot(page, "51-audit-lineage-zh")
    page.get_by_role("link", name="English").click()

    page.get_by_role("link", name="Explorer").click()
    expect(page.locator("#blocks tr[data-block]").first).to_be_visible()
    _shoot(page, "52-explorer")
    tier2 = node.story.actors["tier2"].company
    page.get_by_label("Transaction or block hash").fill(
        make_credit_code(tier2.code_prefix + node.story.run_tag)
    )
    page.get_by_role("button", name="Search").click()
    expect(page.locator('#matches li[data-kind="member"]')).to_contain_text(tier2.name)
    _shoot(page, "53-explorer-search")

    head = node.story.client(node.operator_key).get("/v1/explorer/blocks", limit=100)["items"]
    busy = next(b for b in head if b["transaction_count"] > 0)
    page.goto(f"{node.url}/portal/explorer/blocks/{busy['number']}")
    page.locator("article[data-transaction] h3 a").first.click()
    expect(page.locator("h1")).to_have_text("Transaction")
    expect(page.locator("dd.status-succeeded")).to_have_text("succeeded")
    expect(page.locator("article[data-transaction]")).to_contain_text(".")
    _shoot(page, "54-explorer-transaction")


def test_the_risk_dashboard_charts_exposure_and_shows_an_alert_as_it_is_raised(
    page: Page, node: OversightNode
) -> None:
    _sign_in(page, node.url, node.emails["auditor"])
    page.get_by_role("link", name="Risk").click()
    expect(page.locator("#exposure-chart svg")).to_be_visible()
    expect(page.locator("#aging-chart svg")).to_be_visible()
    expect(page.locator("#alert-live")).to_have_text("Following new alerts.")
    # value comes back round to tier 1: tier 1 → tier 2 → tier 3 → tier 1
    story = node.story
    story.who("tier3").transfer(node.certificates["tier3"], story.id_of("tier1"), "5000.00")
    fresh = page.locator("#alert-rows tr.fresh").first
    expect(fresh).to_contain_text("Circular transfer", timeout=30_000)  # indexed, then streamed
    expect(page.locator("#alert-live")).to_have_text("New alert: Circular transfer.")
    _shoot(page, "55-risk-live-alert")


def test_a_governor_votes_a_proposal_through(page: Page, node: OversightNode) -> None:
    operator, bank = node.story.client(node.operator_key), node.story.who("bank")
    committee = operator.get("/v1/governance/committee")
    # the bank joins the committee with three times the operator's weight: the operator
    # alone no longer carries a proposal
    bank_account = bank.get("/v1/members/me")["accounts"][0]
    weight = 3 * committee["total_weight"]
    body = {"kind": "set_governor", "account": bank_account, "weight": weight}
    assert operator.post("/v1/governance/proposals", body)["state"] == "executed"
    proposal = operator.post(
        "/v1/governance/proposals",
        {"kind": "set_parameter", "key": "PORTAL_OVERSIGHT", "value": 1},
    )
    assert proposal["state"] == "pending"

    _sign_in(page, node.url, node.emails["governor"])
    page.get_by_role("link", name="Governance").click()
    article = page.locator(f"#proposal-{proposal['id']}")
    expect(article).to_contain_text("open for votes")
    expect(article).to_contain_text("25 % voted")
    _shoot(page, "56-governance")
    vote = article.get_by_role("button", name=f"Vote for proposal #{proposal['id']}")
    vote.focus()
    page.keyboard.press("Enter")
    # the vote is a ledger write that executes the proposal: on a busy machine it takes
    # longer than expect's default wait
    expect(page.get_by_role("status")).to_contain_text("the proposal is executed", timeout=30_000)
    expect(page.locator(f"#proposal-{proposal['id']}")).to_have_attribute("data-state", "executed")
    _shoot(page, "57-governance-voted")


def test_a_supplier_is_refused_the_explorer_in_words(page: Page, node: OversightNode) -> None:
    _sign_in(page, node.url, node.emails["tier1"])
    page.goto(f"{node.url}/portal/explorer")
    expect(page.get_by_role("alert")).to_have_text(
        "This is for the consortium's governors; its auditors may only read it."
    )
    expect(page.locator("#blocks")).to_have_count(0)
    _shoot(page, "58-explorer-refused")
