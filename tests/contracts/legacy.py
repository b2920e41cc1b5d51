"""A consortium as deployed before issue 21: the frozen legacy artifacts
(tests/contracts/fixtures/legacy, scripts/legacy_artifacts.py), deployed as `deploy_consortium`
deployed them then: plain contracts, no proxies, caller-computed invoice keys."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from chain.accounts import Signer
from chain.artifacts import Artifact, artifact_from_json
from chain.contract import ContractHandle, deploy_artifact
from chain.deploy import Consortium, MemberSpec
from chain.governance import Call, pass_proposal
from chain.ledger import Ledger
from chain.migration import MigrationPlan, handover_calls, opening_calls, settings_calls
from tests.helpers import govern

if TYPE_CHECKING:
    from web3.types import TxReceipt

LEGACY_DIR = Path(__file__).resolve().parent / "fixtures" / "legacy"


@cache
def legacy_artifact(name: str) -> Artifact:
    return artifact_from_json(json.loads((LEGACY_DIR / f"{name}.json").read_text("utf-8")))


def legacy_invoice_key(credit_code: str, invoice_code: str, invoice_number: str) -> bytes:
    """The key a legacy client computed (chain/invoice_key.py at 95f011a), for parts that need
    no normalizing."""
    parts = [credit_code, invoice_code, invoice_number]
    return keccak(abi_encode(["string", "string", "string"], parts))


def deploy_legacy_consortium(ledger: Ledger, deployer: Signer, operator: MemberSpec) -> Consortium:
    """Governance, registries and the six business contracts of 95f011a, wired, with
    ``operator`` admitted; the deployer stays the only governor (admin mode)."""

    def deploy(name: str, *args: object) -> ContractHandle:
        return deploy_artifact(ledger, deployer, legacy_artifact(name), *args)

    governance = deploy("ConsortiumGovernance", [deployer.address], [1], 100, 100, 7 * 86_400)
    gov = governance.address
    members = deploy("MemberRegistry", gov)
    nodes = deploy("NodeRegistry", gov, members.address)
    reg = members.address
    invoices = deploy("InvoiceRegistry", gov, reg)
    lines = deploy("CreditLines", gov, reg)
    token = deploy("SettlementToken", gov, reg)
    certificates = deploy("CreditCertificates", gov, reg, invoices.address, lines.address)
    hub = deploy("FinancingHub", gov, reg, certificates.address, token.address)
    maturity = deploy("Maturity", gov, certificates.address, token.address)
    pass_proposal(governance, deployer, [(members, "admitMember", operator.admit_args())], "Admit")
    wiring = [
        (invoices, "setCertificates", (certificates.address,)),
        (lines, "setCertificates", (certificates.address,)),
        (certificates, "setFinancingHub", (hub.address,)),
        (certificates, "setMaturity", (maturity.address,)),
        (token, "setSystemContract", (hub.address, True)),
        (token, "setSystemContract", (maturity.address, True)),
    ]
    pass_proposal(governance, deployer, wiring, "Wire the business contracts")
    handles = {
        "ConsortiumGovernance": governance,
        "MemberRegistry": members,
        "NodeRegistry": nodes,
        "InvoiceRegistry": invoices,
        "CreditLines": lines,
        "SettlementToken": token,
        "CreditCertificates": certificates,
        "FinancingHub": hub,
        "Maturity": maturity,
    }
    return Consortium(ledger, handles)


def govern_successor(
    ledger: Ledger, plan: MigrationPlan, governor: Signer, *calls: Call
) -> TxReceipt:
    """``govern`` on the successor governance (same committee: the deployer, admin mode)."""
    return govern(Consortium(ledger, {"ConsortiumGovernance": plan.governance(ledger)}), governor,
                  *calls)  # fmt: skip


def open_import(legacy: Consortium, plan: MigrationPlan, governor: Signer, cap: int) -> None:
    """The committee's three opening proposals, as `scf-node migrate propose-open` makes them:
    the legacy governance's handover, then the successor's settings and opening."""
    ledger = legacy.ledger
    pass_proposal(legacy.governance, governor, handover_calls(legacy, plan), "Hand over")
    successor = plan.governance(ledger)
    pass_proposal(successor, governor, settings_calls(legacy, plan, cap), "Settings")
    pass_proposal(successor, governor, opening_calls(legacy, plan), "Open the import")


def import_members(ledger: Ledger, plan: MigrationPlan, sender: Signer) -> None:
    """Import every legacy member (what invoices need before them: their sellers)."""
    members = plan.successor(ledger, "MemberRegistry")
    for member_id in range(1, members.call("memberCount") + 1):
        members.transact(sender, "importMember", member_id)
