"""chain.scf's records mirror the contracts' structs field by field, in order."""

from __future__ import annotations

import dataclasses
import re
from enum import IntEnum
from pathlib import Path

import pytest

from chain import scf
from chain.artifacts import load_artifact
from chain.governance import ProposalState, VoteType

ROOT = Path(__file__).resolve().parents[2]

# (record, contract, view function returning the struct)
RECORDS = [
    (scf.Member, "MemberRegistry", "getMember"),
    (scf.Invoice, "InvoiceRegistry", "getInvoice"),
    (scf.CreditLine, "CreditLines", "getCreditLine"),
    (scf.Certificate, "CreditCertificates", "getCertificate"),
    (scf.Root, "CreditCertificates", "getRoot"),
    (scf.FinancingRequest, "FinancingHub", "getRequest"),
]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_solidity_names_become_python_names() -> None:
    assert [scf.snake_case(n) for n in ("id", "creditCodeHash", "maxRateBps")] == [
        "id",
        "credit_code_hash",
        "max_rate_bps",
    ]


@pytest.mark.parametrize(("record", "contract", "function"), RECORDS)
def test_record_fields_mirror_the_struct(record: type, contract: str, function: str) -> None:
    abi = load_artifact(contract).abi
    (fn,) = [item for item in abi if item.get("type") == "function" and item["name"] == function]
    components = fn["outputs"][0]["components"]
    assert [_snake(c["name"]) for c in components] == [f.name for f in dataclasses.fields(record)]


def test_enum_fields_are_typed() -> None:
    names = ("id", "financierId", "borrowerId", "limit", "used", "expiresAt", "grantedAt")
    record = scf._record(
        scf.CreditLine, {**dict(zip(names, (1, 2, 3, 100, 0, 10, 5), strict=True)), "status": 1}
    )
    assert record.status is scf.CreditLineStatus.OPEN
    member = scf._record(scf.Member, {**dict.fromkeys(scf.Member.__annotations__, 0), "status": 2})
    assert member.status is scf.MemberStatus.SUSPENDED


def test_a_struct_is_read_by_field_name_whatever_the_order() -> None:
    # the ABI's order is not what fills a record: its field names are
    names = ("status", "grantedAt", "expiresAt", "used", "limit", "borrowerId", "financierId", "id")
    record = scf._record(scf.CreditLine, dict(zip(names, (2, 5, 10, 0, 100, 3, 2, 1), strict=True)))
    assert record == scf.CreditLine(1, 2, 3, 100, 0, 10, 5, scf.CreditLineStatus.CLOSED)


# (Python enum, the interface declaring the Solidity enum)
ENUMS = [
    (scf.MemberStatus, "IMemberRegistry"),
    (scf.InvoiceStatus, "IInvoiceRegistry"),
    (scf.CreditLineStatus, "ICreditLines"),
    (scf.FinancingStatus, "IFinancingHub"),
    (ProposalState, "IConsortiumGovernance"),
    (VoteType, "IConsortiumGovernance"),
]


@pytest.mark.parametrize(("enum", "interface"), ENUMS, ids=[e.__name__ for e, _ in ENUMS])
def test_enums_mirror_the_solidity_enums(enum: type[IntEnum], interface: str) -> None:
    source = (ROOT / "contracts/src/interfaces" / f"{interface}.sol").read_text()
    body = re.search(rf"enum\s+{enum.__name__}\s*\{{([^}}]*)\}}", source)
    assert body is not None, f"{interface} declares no enum {enum.__name__}"
    solidity = [re.sub(r"//.*", "", line).strip(" ,") for line in body.group(1).splitlines()]
    assert [_snake(n).upper() for n in solidity if n] == [m.name for m in enum]
    assert [m.value for m in enum] == list(range(len(enum)))
