"""chain.scf's records mirror the contracts' structs field by field, in order."""

from __future__ import annotations

import dataclasses
import re

import pytest

from chain import scf
from chain.artifacts import load_artifact

# (record, contract, view function returning the struct)
RECORDS = [
    (scf.Invoice, "InvoiceRegistry", "getInvoice"),
    (scf.CreditLine, "CreditLines", "getCreditLine"),
    (scf.Certificate, "CreditCertificates", "getCertificate"),
    (scf.Root, "CreditCertificates", "getRoot"),
    (scf.FinancingRequest, "FinancingHub", "getRequest"),
]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize(("record", "contract", "function"), RECORDS)
def test_record_fields_mirror_the_struct(record: type, contract: str, function: str) -> None:
    abi = load_artifact(contract).abi
    (fn,) = [item for item in abi if item.get("type") == "function" and item["name"] == function]
    components = fn["outputs"][0]["components"]
    assert [_snake(c["name"]) for c in components] == [f.name for f in dataclasses.fields(record)]


def test_enum_fields_are_typed() -> None:
    record = scf._record(scf.CreditLine, (1, 2, 3, 100, 0, 10, 5, 1))
    assert record.status is scf.CreditLineStatus.OPEN
