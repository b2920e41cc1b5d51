"""The benchmark's workload: split transfers of credit certificates between members.

``build_workload(ledger, holders)`` deploys a consortium on a ledger that can fund accounts
and gives ``holders`` supplier members a root certificate each (issued by a core enterprise
on a bank's credit line, backed by a confirmed invoice). Each holder then split-transfers
small amounts of its certificate to the next holder: ``splitTransfer(certificateId,
toMemberId, amount)`` signed by the holder's account with explicit gas.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from chain.accounts import Signer
from chain.contract import ContractHandle
from chain.credit_code import credit_code_hash, make_credit_code
from chain.deploy import Consortium, MemberSpec, deploy_consortium
from chain.governance import pass_proposal
from chain.invoice_key import invoice_key
from chain.ledger import Ledger
from chain.roles import Role

DAY = 86_400
FUNDING_WEI = 10**20
FACE_VALUE = 10**15  # minor units; each holder's root certificate
TRANSFER_AMOUNT = 100  # minor units per split transfer
TRANSFER_GAS = 250_000  # a split transfer uses about 133,000
# admissions per proposal: ConsortiumGovernance takes up to 16 actions, but executing 16
# admissions asks for more gas than the embedded node's per-transaction cap admits
ADMISSIONS_PER_PROPOSAL = 8


@dataclass(frozen=True)
class Holder:
    """A supplier member that holds a root certificate and splits it to ``recipient_id``."""

    signer: Signer
    member_id: int
    certificate_id: int
    recipient_id: int


@dataclass(frozen=True)
class Workload:
    certificates: ContractHandle
    holders: list[Holder]
    # A holder's transfers all carry the same call: encode it once (ABI encoding is the
    # client's work, not the ledger's).
    _calldata: dict[int, bytes] = field(default_factory=dict, compare=False, repr=False)

    def calldata(self, holder: Holder) -> bytes:
        data = self._calldata.get(holder.certificate_id)
        if data is None:
            data = self._calldata[holder.certificate_id] = self.certificates.encode(
                "splitTransfer", holder.certificate_id, holder.recipient_id, TRANSFER_AMOUNT
            )
        return data

    def shares(self, transfers: int) -> list[int]:
        """How many of ``transfers`` each holder sends (as even as possible)."""
        count = len(self.holders)
        return [transfers // count + (1 if i < transfers % count else 0) for i in range(count)]

    def sign(
        self, holder: Holder, nonce: int, chain_id: int, fees: dict[str, int]
    ) -> tuple[bytes, bytes]:
        return holder.signer.sign_transaction(
            {
                "to": self.certificates.address,
                "data": self.calldata(holder),
                "value": 0,
                "gas": TRANSFER_GAS,
                "nonce": nonce,
                "chainId": chain_id,
                **fees,
            }
        )

    def on(self, ledger: Ledger) -> Workload:
        """The same workload seen through another ledger (a copy of the same chain)."""
        handle = ContractHandle(ledger, self.certificates.artifact, self.certificates.address)
        return Workload(handle, self.holders)


_serial = itertools.count(1)


def company(ledger: Ledger, roles: Sequence[Role]) -> tuple[Signer, MemberSpec]:
    signer = Signer.create()
    ledger.fund(signer.address, FUNDING_WEI)
    code = make_credit_code(f"91440300{next(_serial):09d}")
    return signer, MemberSpec(f"Bench company {code}", code, roles, signer.address)


def _now(ledger: Ledger) -> int:
    return int(ledger.get_block("latest")["timestamp"])


def build_workload(ledger: Ledger, holders: int) -> Workload:
    """Deploy a consortium on ``ledger`` (which can fund accounts) and give ``holders``
    suppliers a certificate each: about 30 + 3 x ``holders`` transactions."""
    governor, operator = company(ledger, [Role.AUDITOR])
    return deploy_workload(ledger, holders, governor, operator)[1]


def deploy_workload(
    ledger: Ledger, holders: int, governor: Signer, operator: MemberSpec
) -> tuple[Consortium, Workload]:
    """``build_workload`` with a given governor (funded) and operator member, as a node
    home needs them (its keystore and PKI name them); also returns the consortium."""
    if holders < 2:
        raise ValueError("the workload needs at least two holders (they transfer to each other)")
    c: Consortium = deploy_consortium(ledger, governor, operator)
    core, core_spec = company(ledger, [Role.CORE_ENTERPRISE])
    bank, bank_spec = company(ledger, [Role.FINANCIER])
    suppliers = [company(ledger, [Role.SUPPLIER]) for _ in range(holders)]
    specs = [core_spec, bank_spec, *(spec for _, spec in suppliers)]
    admissions = [(c.members, "admitMember", spec.admit_args()) for spec in specs]
    for start in range(0, len(admissions), ADMISSIONS_PER_PROPOSAL):
        batch = admissions[start : start + ADMISSIONS_PER_PROPOSAL]
        pass_proposal(c.governance, governor, batch, "Admit the benchmark companies")

    def member_id(signer: Signer) -> int:
        return int(c.members.call("memberOf", signer.address))

    core_id = member_id(core)
    receipt = c.credit_lines.transact(
        bank,
        "grantCreditLine",
        core_id,
        FACE_VALUE * holders,
        _now(ledger) + 365 * DAY,
    )
    line_id = int(c.credit_lines.event_args(receipt, "CreditLineGranted")["lineId"])
    supplier_ids = [member_id(signer) for signer, _ in suppliers]
    result: list[Holder] = []
    for i, (signer, spec) in enumerate(suppliers):
        number = f"{next(_serial):08d}"
        key = invoice_key(credit_code_hash(spec.credit_code), "4403231130", number)
        issued = _now(ledger)
        c.invoices.transact(
            signer,
            "registerInvoice",
            "4403231130",
            number,
            core_id,
            FACE_VALUE,
            issued,
            issued + 60 * DAY,
            b"\x11" * 32,
        )
        c.invoices.transact(core, "confirmInvoice", key)
        receipt = c.certificates.transact(
            core,
            "issueCertificate",
            supplier_ids[i],
            FACE_VALUE,
            _now(ledger) + 90 * DAY,
            line_id,
            [key],
        )
        certificate_id = int(c.certificates.event_args(receipt, "CertificateIssued")["id"])
        recipient = supplier_ids[(i + 1) % holders]
        result.append(Holder(signer, supplier_ids[i], certificate_id, recipient))
    return c, Workload(c.certificates, result)
