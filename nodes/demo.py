"""``scf-node demo``: the whole supply-chain-finance story on a node, told as tables.

A home-appliance maker and three tiers of its suppliers join with a bank through
applications and committee votes; invoices are registered and confirmed; the bank
grants a credit line; a certificate is issued and split down the tiers; a duplicate
invoice is refused however it is written; tier 3 gets a quote and discounts at the bank on
its own terms (a worse rate is refused); time moves to maturity; the
maker repays and every holder redeems. Every figure is checked against what the
contracts must produce (the discount against chain/pricing.py), and any difference
makes the command fail — so the demo doubles as a smoke test of a whole node. Last, each
company invites a user to the member portal, and the demo prints the portal's address
with each user's e-mail and one-time invitation code (the person chooses a password
with it: nobody else ever knows it, decision 15).
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from api.client import ApiError, ScfClient
from api.money import format_amount
from api.wire import utc_midnight
from chain.credit_code import make_credit_code
from chain.pricing import quote_at
from nodes.home import NodeHome
from nodes.runtime.dev_node import dev_node

DAY = 86_400
RATE_BPS = 500  # the bank's annual discount rate for tier 3
DEFAULT_API_PORT = 8000  # of ``scf-node start``


class DemoMismatch(Exception):
    """Something the ledger or the API did differs from what the story expects."""


@dataclass(frozen=True)
class Company:
    handle: str
    name: str
    code_prefix: str  # 9 characters; each run appends 8 digits and the check character
    roles: tuple[str, ...]
    clerk: str  # the company's user of the member portal
    clerk_role: str  # its role there: operator (经办) or approver (复核)


CAST = (
    Company(
        "maker",
        "Qingdao Hearth Home Appliances Co., Ltd.",
        "913702001",
        ("CORE_ENTERPRISE",),
        "Liu Yang",
        "approver",
    ),
    Company(
        "tier1",
        "Ningbo Cold-Chain Compressor Co., Ltd.",
        "913302002",
        ("SUPPLIER",),
        "Wang Fang",
        "operator",
    ),
    Company(
        "tier2",
        "Changzhou Precision Motor Parts Co., Ltd.",
        "913204003",
        ("SUPPLIER",),
        "Zhao Lei",
        "operator",
    ),
    Company(
        "tier3",
        "Wuhu Copper Winding Wire Co., Ltd.",
        "913402004",
        ("SUPPLIER",),
        "Sun Li",
        "operator",
    ),
    Company(
        "bank",
        "Bank of the Yellow Sea, Qingdao Branch",
        "913702005",
        ("FINANCIER",),
        "Chen Jing",
        "approver",
    ),
)


@dataclass(frozen=True)
class PortalSignIn:
    """A demo company's portal user: what the person needs to sign in the first time."""

    company: str  # handle
    email: str
    role: str
    invitation_code: str


def portal_url(api_url: str) -> str:
    """The portal's address for a browser. A loopback node is named ``localhost``: the
    portal's session cookie is Secure, which browsers keep from http://localhost but not
    from http://127.0.0.1."""
    url = httpx.URL(api_url)
    if url.host in ("127.0.0.1", "::1"):
        url = url.copy_with(host="localhost")
    return str(url.copy_with(path="/portal/"))


@dataclass
class Endpoints:
    api_url: str
    rpc_url: str
    operator_key: str


@dataclass
class Actor:
    company: Company
    client: ScfClient
    member_id: int = 0


@dataclass
class Story:
    endpoints: Endpoints
    console: Console
    actors: dict[str, Actor] = field(default_factory=dict)
    run_tag: str = field(default_factory=lambda: f"{int(time.time()) % 100_000_000:08d}")

    # --- plumbing -------------------------------------------------------------------

    def expect(self, what: str, actual: object, expected: object) -> None:
        if actual != expected:
            raise DemoMismatch(f"{what}: expected {expected!r}, got {actual!r}")

    def rpc(self, method: str, *params: Any) -> Any:
        reply = httpx.post(
            self.endpoints.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=30,
        ).json()
        if "error" in reply:
            raise DemoMismatch(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    def chain_time(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def client(self, api_key: str) -> ScfClient:
        return ScfClient(self.endpoints.api_url, api_key)

    def who(self, handle: str) -> ScfClient:
        return self.actors[handle].client

    def id_of(self, handle: str) -> int:
        return self.actors[handle].member_id

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    # --- the story ------------------------------------------------------------------

    def run(self) -> list[PortalSignIn]:
        operator = self.client(self.endpoints.operator_key)
        self.onboard(operator)
        self.finance()
        return self.invite_to_portal()

    def onboard(self, operator: ScfClient) -> None:
        self.step("1. Five companies apply; the committee votes them in")
        table = Table("company", "roles", "application", "proposal", "member id")
        for company in CAST:
            # a fresh credit code per run, so the demo also works on a node it ran on before
            code = make_credit_code(company.code_prefix + self.run_tag)
            applied = self.client("").apply(company.name, code, list(company.roles), "demo")
            proposal_id = applied["proposal_id"]
            if proposal_id is None:
                # one governor (admin mode): the node makes no proposal by itself, lest an
                # unauthenticated request admit itself; the operator sponsors it
                sponsored = operator.post(
                    "/v1/governance/proposals",
                    {"kind": "admit_member", "application_id": applied["id"]},
                )
                proposal_id = sponsored["id"]
            else:
                operator.vote(int(proposal_id), "for")
            self._execute_if_needed(operator, int(proposal_id))
            actor = Actor(company, self.client(str(applied["api_key"])))
            actor.member_id = int(actor.client.wait_until_admitted()["id"])
            self.actors[company.handle] = actor
            table.add_row(
                company.name,
                ", ".join(company.roles),
                str(applied["id"]),
                str(proposal_id),
                str(actor.member_id),
            )
        self.console.print(table)

    def _execute_if_needed(self, operator: ScfClient, proposal_id: int) -> None:
        proposal = operator.proposal(proposal_id)
        if proposal["state"] == "approved":
            operator.post(f"/v1/governance/proposals/{proposal_id}/execute")
            proposal = operator.proposal(proposal_id)
        self.expect(f"proposal {proposal_id} state", proposal["state"], "executed")

    def finance(self) -> None:
        bank, maker = self.who("bank"), self.who("maker")
        tier1, tier2, tier3 = self.who("tier1"), self.who("tier2"), self.who("tier3")
        now = self.chain_time()
        maturity = (datetime.fromtimestamp(now, UTC) + timedelta(days=90)).date()
        deposit = _hash("bank deposit slip")

        self.step("2. Money in, a credit line, invoices registered and confirmed")
        bank.mint(self.id_of("bank"), "5000000.00", deposit)
        bank.mint(self.id_of("maker"), "1000000.00", deposit)
        line = bank.grant_credit_line(self.id_of("maker"), "3000000.00", "2031-12-31")
        invoices = [
            tier1.register_invoice(**self._invoice(tier1, number, amount, now))
            for number, amount in (("00000001", "600000.00"), ("00000002", "400000.00"))
        ]
        for invoice in invoices:
            self.expect(
                "confirmed invoice", maker.confirm_invoice(invoice["key"])["status"], "confirmed"
            )
        table = Table("invoice code", "number", "key", "seller", "buyer", "amount", "status")
        for row in maker.invoices()["items"]:
            table.add_row(
                row["invoice_code"],
                row["invoice_number"],
                row["key"][:18] + "…",
                self._name(row["seller_id"]),
                self._name(row["buyer_id"]),
                row["amount"],
                row["status"],
            )
        self.console.print(table)

        self.step("3. The maker issues a certificate; it is split down three tiers")
        root = maker.issue_certificate(
            holder_id=self.id_of("tier1"),
            face_value="1000000.00",
            maturity=maturity.isoformat(),
            credit_line_id=line["id"],
            invoice_keys=[i["key"] for i in invoices],
        )
        to_tier2 = tier1.transfer(root["id"], self.id_of("tier2"), "700000.00")
        to_tier3 = tier2.transfer(to_tier2["id"], self.id_of("tier3"), "300000.00")
        self.expect("tier 1 keeps", tier1.certificate(root["id"])["value"], "300000.00")
        self.expect("tier 2 keeps", tier2.certificate(to_tier2["id"])["value"], "400000.00")
        self.expect("tier 3 holds", to_tier3["value"], "300000.00")
        table = Table("certificate", "parent", "holder", "value", "maturity (UTC)")
        for cert in (tier1.certificate(root["id"]), tier2.certificate(to_tier2["id"]), to_tier3):
            # every split keeps the root's maturity day, which the API answers as ISO 8601
            self.expect(f"#{cert['id']} maturity", cert["maturity"], maturity.isoformat())
            table.add_row(
                f"#{cert['id']}",
                f"#{cert['parent_id']}" if cert["parent_id"] else "root",
                self._name(cert["holder_id"]),
                cert["value"],
                cert["maturity"],
            )
        self.console.print(table)

        self.step("4. Invoice 1 again is refused, however it is written")
        # the ledger derives the key from the seller and the canonical code and number:
        # another spelling is not "normalized" into a new key, it is no invoice identity
        for label, number, refusal in (
            ("padded to 9 digits", "000000001", (422, "invalid_invoice_identity")),
            ("a full-width digit", "0000000\uff11", (422, "invalid_invoice_identity")),
            ("exactly as before", "00000001", (409, "InvoiceAlreadyRegistered")),
        ):
            try:
                tier1.register_invoice(**self._invoice(tier1, number, "590000.00", now))
            except ApiError as exc:
                got = (exc.status, exc.details.get("error") or exc.code)
                self.expect(f"refusal of invoice 1 {label}", got, refusal)
                self.console.print(f"[green]refused[/green] ({label}): {got[1]} — {exc.message}")
            else:
                raise DemoMismatch(f"invoice 1 {label} was registered a second time")

        self.step("5. Tier 3 discounts its certificate at the bank, on its own terms")
        quoted = tier3.quote_financing("300000.00", RATE_BPS, certificate_id=to_tier3["id"])
        agreement = tier3.store_document(
            f"factoring agreement {self.run_tag}: tier 3 and the bank".encode(),
            "agreement.txt",
            [self.id_of("bank")],
        )
        expires = datetime.fromtimestamp(now, UTC) + timedelta(days=7)
        request = tier3.request_financing(
            certificate_id=to_tier3["id"],
            financier_id=self.id_of("bank"),
            amount="300000.00",
            max_rate_bps=RATE_BPS,
            agreement_hash=agreement["hash"],
            expires_at=expires.isoformat(),
        )
        self.console.print(
            f"Tier 3 was quoted {quoted['price']} at {RATE_BPS / 100:.2f}% and accepts no "
            f"worse rate (request {request['id']}, deadline {request['expires_at']})."
        )
        try:
            bank.approve_financing(request["id"], RATE_BPS + 1, agreement["hash"])
        except ApiError as exc:
            self.expect(
                "a worse rate is refused",
                (exc.status, exc.details.get("error")),
                (409, "FinancingRateAboveAccepted"),
            )
            self.console.print(f"[green]refused[/green]: {exc.message}")
        else:
            raise DemoMismatch("the bank approved at a rate the seller did not accept")
        approved = bank.approve_financing(request["id"], RATE_BPS, agreement["hash"])
        approved_at = self._block_time(bank.last_headers.get("X-Transaction-Hash"))
        price = quote_at(300_000_00, RATE_BPS, utc_midnight(maturity), approved_at).price
        self.expect("discounted price", approved["price"], format_amount(price))
        self.expect(
            "no less than quoted", Decimal(approved["price"]) >= Decimal(quoted["price"]), True
        )
        self.expect("tier 3 cash", tier3.balance()["balance"], format_amount(price))
        self.console.print(
            f"Tier 3 sold 300000.00 of certificate {to_tier3['id']} at "
            f"{RATE_BPS / 100:.2f}% a year for [bold]{format_amount(price)}[/bold] "
            "in settlement tokens."
        )

        self.step("6. Maturity: the maker repays, every holder redeems")
        # a block at the chosen time, the ledger's clock going on from it: the one way
        # a consortium moves block time too (through the minter and its log)
        self.rpc("evm_mine", utc_midnight(maturity) + DAY)
        self.expect("repaid", maker.repay(root["id"])["repaid"], True)
        redeemed = {
            "tier1": tier1.redeem(root["id"])["amount"],
            "tier2": tier2.redeem(to_tier2["id"])["amount"],
            "bank": bank.redeem(approved["financed_certificate_id"])["amount"],
        }
        self.expect(
            "redeemed", redeemed, {"tier1": "300000.00", "tier2": "400000.00", "bank": "300000.00"}
        )
        table = Table("holder", "redeemed at maturity")
        for handle, amount in redeemed.items():
            table.add_row(self.actors[handle].company.name, amount)
        self.console.print(table)

        self.step("7. The lineage tree and the final balances")
        self.console.print(self._tree(maker.lineage(root["id"])))
        expected = {
            "maker": "0.00",
            "tier1": "300000.00",
            "tier2": "400000.00",
            "tier3": format_amount(price),
            "bank": format_amount(5_000_000_00 - price + 300_000_00),
        }
        table = Table("member", "settlement balance", "expected")
        for handle, amount in expected.items():
            actual = self.who(handle).balance()["balance"]
            table.add_row(self.actors[handle].company.name, actual, amount)
            self.expect(f"{handle} balance", actual, amount)
        self.console.print(table)
        total = sum(Decimal(a) for a in expected.values())
        self.expect("money conserved", total, Decimal("6000000.00"))

    def invite_to_portal(self) -> list[PortalSignIn]:
        """Each company's key holder invites one user to the member portal; the portal's
        address and each user's first sign-in are printed."""
        self.step("8. The member portal: each company invites a user")
        url = portal_url(self.endpoints.api_url)
        welcome = httpx.get(f"{self.endpoints.api_url}/portal/welcome", timeout=30)
        self.expect("the portal's welcome page", welcome.status_code, 200)
        sign_ins = []
        table = Table("company", "user", "role", "e-mail", "invitation code")
        for company in CAST:
            member = self.who(company.handle)
            email = f"{company.handle}.{self.run_tag}@demo.example"
            body = {"name": company.clerk, "email": email, "role": company.clerk_role}
            invited = member.post("/v1/portal/users", body)
            listed = {u["email"]: u for u in member.get("/v1/portal/users")["items"]}
            self.expect(
                f"{company.handle}'s portal user",
                listed.get(email, {}).get("role"),
                company.clerk_role,
            )
            self.expect(f"{company.handle}'s user is invited", listed[email]["invited"], True)
            code = str(invited["invitation_code"])
            sign_ins.append(PortalSignIn(company.handle, email, company.clerk_role, code))
            table.add_row(company.handle, company.clerk, company.clerk_role, email, code)
        self.console.print(table)
        self.console.print(
            f"Member portal: [bold]{url}[/bold]\n"
            f"The first time, each user opens {url}welcome, enters the e-mail and invitation "
            "code above and chooses a password (10 characters or more); then signs in at "
            f"{url}sign-in. A code is valid for 7 days and only once."
        )
        return sign_ins

    # --- helpers --------------------------------------------------------------------

    def _invoice(self, seller: ScfClient, number: str, amount: str, now: int) -> dict[str, Any]:
        """An invoice of tier 1 to the maker, its document stored on the platform first."""
        issued = datetime.fromtimestamp(now, UTC).date()
        document = seller.store_document(
            f"invoice 37{self.run_tag} {number}".encode(),
            f"invoice-{number}.txt",
            [self.id_of("maker")],
        )
        return {
            "invoice_code": f"37{self.run_tag}",  # a 10-digit VAT invoice code
            "invoice_number": number,
            "buyer_id": self.id_of("maker"),
            "amount": amount,
            "issue_date": issued.isoformat(),
            "due_date": (issued + timedelta(days=120)).isoformat(),
            "document_hash": document["hash"],
        }

    def _name(self, member_id: int) -> str:
        for actor in self.actors.values():
            if actor.member_id == member_id:
                return actor.company.handle
        return str(member_id)

    def _block_time(self, tx_hash: str | None) -> int:
        if not tx_hash:
            raise DemoMismatch("the approval answered without X-Transaction-Hash")
        receipt = self.rpc("eth_getTransactionReceipt", tx_hash)
        block = self.rpc("eth_getBlockByNumber", receipt["blockNumber"], False)
        return int(block["timestamp"], 16)

    def _tree(self, node: dict[str, Any], tree: Tree | None = None) -> Tree:
        label = (
            f"#{node['id']} held by {self._name(node['holder_id'])}: value {node['value']}, "
            f"redeemed {node['redeemed_value']}"
        )
        branch = Tree(label) if tree is None else tree.add(label)
        for child in node.get("children", []):
            self._tree(child, branch)
        return branch


def _hash(text: str) -> str:
    return "0x" + hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def fresh_node(home: Path, console: Console) -> Iterator[Endpoints]:
    """A development node on ``home`` (see nodes/runtime/dev_node.py), with the operator's key."""
    with contextlib.ExitStack() as stack:
        home.parent.mkdir(parents=True, exist_ok=True)  # the node's log is written beside it
        with console.status(f"Starting a development node in {home} ..."):
            node = stack.enter_context(dev_node(home, home.parent / f"{home.name}-node.log"))
        key = (home / "operator-api-key").read_text("utf-8").strip()
        yield Endpoints(node.api_url, node.rpc_url, key)


def run_demo(home: Path | None, api_url: str | None, rpc_url: str | None, console: Console) -> None:
    """Tell the story on a running node (``api_url``) or on a fresh development node."""
    if api_url is not None:
        node_home = NodeHome(home) if home is not None else None
        if node_home is None or not (node_home.path / "operator-api-key").exists():
            raise DemoMismatch("with --api-url, give the node's --home (for the operator key)")
        key = (node_home.path / "operator-api-key").read_text("utf-8").strip()
        Story(Endpoints(api_url, rpc_url or "http://127.0.0.1:8545", key), console).run()
        return
    with contextlib.ExitStack() as stack:
        kept = home is not None
        if home is None:
            home = (
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scf-demo-"))) / "home"
            )
        with fresh_node(home, console) as endpoints:
            Story(endpoints, console).run()
        if kept:
            again = portal_url(f"http://127.0.0.1:{DEFAULT_API_PORT}")
            console.print(
                f"The demo's node has stopped. `scf-node start --dev --home {home}` starts it "
                f"again, with the portal at {again} and its users as invited above."
            )
        else:
            console.print(
                "The demo's node and its temporary home are gone with it: give `--home DIR` "
                "to keep them, and sign in to the portal after `scf-node start --dev "
                "--home DIR`."
            )
