"""Print the gas each business function uses, as a Markdown table (kept in docs/development.md).

Runs one representative story on a fresh in-memory ``tester`` ledger: deployment, invoices,
a credit line, a certificate, split transfers, financing (approve / reject / cancel / expire),
settlement tokens, repayment, redemption and overdue marking. Gas numbers are the receipts'
``gasUsed``; first-time writes cost more than later ones (zero -> non-zero storage), so the
table says which case it measured.

Usage: ``python -m scripts.gas_table``
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.crypto import keccak
from web3.types import TxReceipt

from chain.accounts import Signer
from chain.backends import open_ledger
from chain.contract import ContractHandle
from chain.credit_code import credit_code_hash, make_credit_code
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.governance import pass_proposal
from chain.invoice_key import invoice_key
from chain.ledger import Ledger
from chain.roles import Role

DAY = 86_400
FUNDING_WEI = 10**20
MAX_UINT = 2**256 - 1
_serial = itertools.count(1)


@dataclass
class GasTable:
    """Gas by (contract, function, case), in the order first measured; repeats are not kept."""

    rows: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def send(
        self, contract: ContractHandle, signer: Signer, function: str, *args: Any, case: str = ""
    ) -> TxReceipt:
        receipt = contract.transact(signer, function, *args)
        self.rows.setdefault((contract.artifact.name, function, case), int(receipt["gasUsed"]))
        return receipt

    def markdown(self) -> Iterator[str]:
        yield "| contract | function | case | gas |"
        yield "|---|---|---|---:|"
        for (contract, function, case), gas in self.rows.items():
            yield f"| {contract} | `{function}` | {case} | {gas:,} |"


@dataclass(frozen=True)
class Company:
    id: int
    signer: Signer
    credit_code: str

    @property
    def address(self) -> str:
        return self.signer.address


def _signer(ledger: Ledger) -> Signer:
    signer = Signer.create()
    ledger.fund(signer.address, FUNDING_WEI)
    return signer


def _admit(consortium: Consortium, governor: Signer, roles: Sequence[Role]) -> Company:
    signer = _signer(consortium.ledger)
    code = make_credit_code(f"91310000{next(_serial):09d}")
    spec = MemberSpec(f"Company {code}", code, roles, signer.address)
    pass_proposal(
        consortium.governance,
        governor,
        [(consortium.members, "admitMember", spec.admit_args())],
        "x",
    )
    return Company(int(consortium.members.call("memberOf", signer.address)), signer, code)


def _now(ledger: Ledger) -> int:
    return int(ledger.get_block("latest")["timestamp"])


def measure() -> GasTable:
    """Run the story on a fresh tester ledger and record every business transaction's gas."""
    ledger = open_ledger("tester")
    governor = _signer(ledger)
    operator = MemberSpec(
        "Operator", make_credit_code("91310000000000000"), [Role.AUDITOR], governor.address
    )
    c = deploy_consortium(ledger, governor, operator)
    core = _admit(c, governor, [Role.CORE_ENTERPRISE])
    tier1, tier2, tier3 = (_admit(c, governor, [Role.SUPPLIER]) for _ in range(3))
    bank = _admit(c, governor, [Role.FINANCIER])
    table = GasTable()
    doc = keccak(text="document")

    def invoice(seller: Company, amount: int, case: str = "later ones") -> bytes:
        number = f"{next(_serial):08d}"
        key = invoice_key(credit_code_hash(seller.credit_code), "3100231130", number)
        today = _now(ledger)
        table.send(
            c.invoices,
            seller.signer,
            "registerInvoice",
            "3100231130",
            number,
            core.id,
            amount,
            today,
            today + 60 * DAY,
            doc,
            case=case,
        )
        return key

    # invoices
    key = invoice(tier1, 1_000_000_00, case="first on the ledger")
    table.send(c.invoices, core.signer, "confirmInvoice", key)
    table.send(c.invoices, core.signer, "disputeInvoice", invoice(tier1, 1_00), doc)
    table.send(c.invoices, tier1.signer, "cancelInvoice", invoice(tier1, 1_00))

    # credit lines
    expires = _now(ledger) + 365 * DAY
    receipt = table.send(c.credit_lines, bank.signer, "grantCreditLine", core.id, 10**12, expires)
    line = int(c.credit_lines.event_args(receipt, "CreditLineGranted")["lineId"])
    table.send(c.credit_lines, bank.signer, "setLimit", line, 10**13)
    spare = c.credit_lines.transact(bank.signer, "grantCreditLine", core.id, 1_00, expires)
    spare_line = int(c.credit_lines.event_args(spare, "CreditLineGranted")["lineId"])
    table.send(c.credit_lines, bank.signer, "closeCreditLine", spare_line)

    # certificates
    maturity = _now(ledger) + 90 * DAY
    receipt = table.send(
        c.certificates,
        core.signer,
        "issueCertificate",
        tier1.id,
        1_000_000_00,
        maturity,
        line,
        [key],
        case="1 invoice",
    )
    root = int(c.certificates.event_args(receipt, "CertificateIssued")["id"])
    keys = [invoice(tier1, 1_00) for _ in range(32)]
    for k in keys:
        c.invoices.transact(core.signer, "confirmInvoice", k)
    table.send(
        c.certificates,
        core.signer,
        "issueCertificate",
        tier1.id,
        32_00,
        maturity,
        line,
        keys,
        case="32 invoices",
    )

    def split(holder: Company, source: int, to: Company, amount: int, case: str) -> int:
        receipt = table.send(
            c.certificates, holder.signer, "splitTransfer", source, to.id, amount, case=case
        )
        return int(c.certificates.event_args(receipt, "CertificateSplit")["childId"])

    to_tier2 = split(tier1, root, tier2, 600_000_00, "first split of a certificate")
    split(tier1, root, tier3, 1_00, "later split")
    to_tier3 = split(tier2, to_tier2, tier3, 300_000_00, "second tier")

    # settlement tokens
    table.send(
        c.settlement, bank.signer, "mint", bank.address, 10**11, doc, case="first on the ledger"
    )
    table.send(c.settlement, bank.signer, "mint", core.address, 10**11, doc, case="later ones")
    table.send(c.settlement, bank.signer, "burn", 1_00, doc)
    table.send(c.settlement, core.signer, "transfer", tier1.address, 1_00, case="to a member")
    table.send(c.settlement, bank.signer, "approve", c.financing.address, MAX_UINT)
    c.settlement.transact(core.signer, "approve", c.maturity.address, MAX_UINT)

    # financing
    hub = c.financing

    def request(amount: int, days: int = 7, case: str = "later ones") -> int:
        receipt = table.send(
            hub,
            tier3.signer,
            "requestFinancing",
            to_tier3,
            bank.id,
            amount,
            500,
            doc,
            _now(ledger) + days * DAY,
            case=case,
        )
        return int(hub.event_args(receipt, "FinancingRequested")["requestId"])

    first = request(100_000_00, case="first on the ledger")
    table.send(hub, bank.signer, "approveFinancing", first, 435, doc, case="pays a member")
    table.send(hub, bank.signer, "rejectFinancing", request(1_00), doc)
    table.send(hub, tier3.signer, "cancelFinancing", request(1_00))
    late = request(1_00, days=1)
    ledger.increase_time(DAY)
    table.send(hub, governor, "expireFinancing", late)

    # maturity
    ledger.increase_time(maturity - _now(ledger))
    table.send(c.maturity, core.signer, "repay", root)
    table.send(c.maturity, tier3.signer, "redeem", to_tier3, case="holder already has tokens")
    table.send(c.maturity, tier2.signer, "redeem", to_tier2, case="holder had no tokens")
    table.send(c.maturity, governor, "markOverdue", root + 1, case="anyone")
    ledger.close()
    return table


def main() -> int:
    for line in measure().markdown():
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
