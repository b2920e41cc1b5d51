"""Adopting a consortium deployed before the proxies: import its business state by proposal.

A consortium deployed before issue 21 runs plain (not proxied) business contracts that no vote
can change. It adopts the current ones in three steps, all under its own governance, which
stays, with its MemberRegistry and NodeRegistry (docs/decisions/0013):

1. ``prepare``: anyone deploys the successors, the six business contracts behind proxies bound
   to the legacy governance and registries, plus an importer implementation of each (the
   business contract and an import window, ``contracts/src/migration``).
2. ``opening_calls``, one proposal: pause the consortium (legacy and successors alike stand
   still), wire the successors, and move each proxy to its importer, opening its window on its
   legacy contract.
3. ``import_all``: anyone imports every record by its id, key or account; the importer reads it
   from the legacy contract's views. Ids come from the legacy counters; invoice keys, token
   holders and overdue roots from the legacy events. Idempotent, so a crash only means running
   it again.
4. ``adoption_calls``, one proposal: each importer closes its window if the count and total of
   what it imported are the figures recorded in the proposal (``expected_totals``, read from
   the legacy views) and the legacy contract's own; each proxy moves to its released code;
   the consortium is unpaused. The nodes then refuse transactions to the legacy addresses
   (``Consortium.retired``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak
from web3 import Web3

from chain.artifacts import load_artifact
from chain.contract import GAS_MARGIN_PERCENT, ContractHandle, deploy_artifact
from chain.deploy import (
    ISSUANCE_CAP_KEY,
    UPGRADEABLE,
    Consortium,
    deploy_business,
    implementation_args,
    wiring_calls,
)
from chain.errors import ScfError
from chain.upgrades import code_hash, implementation_of, upgrade_call

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chain.accounts import Signer
    from chain.governance import Call
    from chain.ledger import Ledger

# What each importer's import function is called, in the order the records depend on nothing.
IMPORT_FUNCTIONS = {
    "InvoiceRegistry": "importInvoice",
    "CreditLines": "importLine",
    "SettlementToken": "importBalance",
    "CreditCertificates": "importCertificate",
    "FinancingHub": "importRequest",
    "Maturity": "importOverdue",
}
_INVOICE_REGISTERED = keccak(
    text="InvoiceRegistered(bytes32,uint256,uint256,uint256,uint64,uint64,bytes32)"
)
_TRANSFER = keccak(text="Transfer(address,address,uint256)")
_ROOT_OVERDUE = keccak(text="RootOverdue(uint256,uint256,uint256,uint64,address)")
_IMPORT_CLOSED = keccak(text="LegacyImportClosed(address,uint256,uint256)")

Progress = Callable[[str, int, int], None]  # contract, records done, records in all
# A legacy invoice's identity: (seller credit code, invoice code, invoice number), normalized
# as the legacy key was computed from them (chain/invoice_key.py before issue 21).
InvoiceIdentity = tuple[str, str, str]


@dataclass(frozen=True)
class MigrationPlan:
    """Addresses of one adoption: the legacy contracts, their successors (proxies), the
    importers and the released implementations the proxies return to. Saved beside the node's
    deployment so that a crashed run resumes with the same contracts."""

    legacy: dict[str, str]
    successors: dict[str, str]
    importers: dict[str, str]
    released: dict[str, str]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2, sort_keys=True) + "\n", "utf-8")

    @classmethod
    def load(cls, path: Path) -> MigrationPlan:
        raw = json.loads(path.read_text("utf-8"))
        return cls(raw["legacy"], raw["successors"], raw["importers"], raw["released"])

    def successor(self, ledger: Ledger, name: str) -> ContractHandle:
        """The successor proxy of ``name``, seen through its importer's ABI."""
        return ContractHandle(ledger, load_artifact(f"{name}Import"), self.successors[name])


def prepare(legacy: Consortium, deployer: Signer) -> MigrationPlan:
    """Deploy the successors and their importers; nothing changes until governance votes."""
    ledger = legacy.ledger
    successors = deploy_business(ledger, deployer, legacy.governance, legacy.members)
    addresses = {**legacy.addresses(), **{n: h.address for n, h in successors.items()}}
    importers = {
        name: str(
            deploy_artifact(
                ledger,
                deployer,
                load_artifact(f"{name}Import"),
                *implementation_args(name, addresses),
            ).address
        )
        for name in UPGRADEABLE
    }
    return MigrationPlan(
        legacy={name: legacy.contracts[name].address for name in UPGRADEABLE},
        successors={name: handle.address for name, handle in successors.items()},
        importers=importers,
        released={name: implementation_of(handle) for name, handle in successors.items()},
    )


def opening_calls(legacy: Consortium, plan: MigrationPlan, issuance_cap: int) -> list[Call]:
    """The proposal opening the import windows (see the module's docstring). ``issuance_cap``
    becomes the ISSUANCE_CAP parameter if the legacy governance has none (legacy contracts
    knew no cap; the successors mint nothing without one)."""
    ledger, governance = legacy.ledger, legacy.governance
    successors = {name: plan.successor(ledger, name) for name in UPGRADEABLE}
    calls: list[Call] = [(governance, "pause", ())]
    calls += wiring_calls(successors)
    if governance.call("parameter", ISSUANCE_CAP_KEY) == 0:
        calls.append((governance, "setParameter", (ISSUANCE_CAP_KEY, issuance_cap)))
    for name in UPGRADEABLE:
        importer = ContractHandle(ledger, load_artifact(f"{name}Import"), plan.importers[name])
        args: tuple[Any, ...] = (plan.legacy[name],)
        if name == "SettlementToken":  # what the legacy hub and maturity hold goes to theirs
            system = ("FinancingHub", "Maturity")
            args += ([plan.legacy[n] for n in system], [plan.successors[n] for n in system])
        opening = importer.encode("openImport", *args)
        digest = code_hash(ledger, importer.address)
        calls.append(upgrade_call(successors[name], importer.address, digest, opening))
    return calls


def discover(ledger: Ledger, plan: MigrationPlan) -> dict[str, list[Any]]:
    """Every record to import, by contract: ids from the legacy counters, invoice keys, token
    holders and overdue roots from the legacy events (the legacy contracts enumerate none of
    them). Found once the windows are open and the legacy contracts stand still."""

    def legacy(name: str) -> ContractHandle:
        return _legacy(ledger, plan, name)

    invoice_keys = [bytes(log["topics"][1]) for log in _logs(ledger, plan, "InvoiceRegistry")]
    holders: dict[str, None] = {}
    for log in _logs(ledger, plan, "SettlementToken"):
        for topic in log["topics"][1:3]:
            account = Web3.to_checksum_address(bytes(topic)[12:])
            if int(account, 16):
                holders[account] = None
    overdue = [int.from_bytes(log["topics"][1], "big") for log in _logs(ledger, plan, "Maturity")]
    return {
        "InvoiceRegistry": list(dict.fromkeys(invoice_keys)),
        "CreditLines": _ids(legacy("CreditLines").call("creditLineCount")),
        "SettlementToken": list(holders),
        "CreditCertificates": _ids(legacy("CreditCertificates").call("certificateCount")),
        "FinancingHub": _ids(legacy("FinancingHub").call("requestCount")),
        "Maturity": list(dict.fromkeys(overdue)),
    }


def expected_totals(ledger: Ledger, plan: MigrationPlan) -> dict[str, tuple[int, int]]:
    """(count, total) each importer must have imported, read from the legacy views alone: what
    the adopting proposal records and governors check. Counts are the legacy counters where
    the legacy contract has one; the token's total is the legacy supply."""
    records = discover(ledger, plan)

    def summed(name: str, view: str, field: str) -> int:
        legacy = _legacy(ledger, plan, name)
        return sum(int(legacy.call_struct(view, r)[field]) for r in records[name])

    token = _legacy(ledger, plan, "SettlementToken")
    holders = [a for a in records["SettlementToken"] if token.call("balanceOf", a) > 0]
    invoices = _legacy(ledger, plan, "InvoiceRegistry")
    return {
        "InvoiceRegistry": (
            invoices.call("invoiceCount"),
            summed("InvoiceRegistry", "getInvoice", "amount"),
        ),
        "CreditLines": (
            len(records["CreditLines"]),
            summed("CreditLines", "getCreditLine", "used"),
        ),
        "SettlementToken": (len(holders), token.call("totalSupply")),
        "CreditCertificates": (
            len(records["CreditCertificates"]),
            summed("CreditCertificates", "getCertificate", "value"),
        ),
        "FinancingHub": (
            len(records["FinancingHub"]),
            summed("FinancingHub", "getRequest", "amount"),
        ),
        "Maturity": (len(records["Maturity"]), 0),
    }


def import_all(
    ledger: Ledger,
    plan: MigrationPlan,
    sender: Signer,
    invoice_identities: Mapping[bytes, InvoiceIdentity],
    batch_size: int = 20,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Import every record ``discover`` finds that is not imported yet, ``batch_size``
    transactions at a time; return how many each contract imported now. Safe to run again
    (after a crash, or twice): what is imported already is skipped, and the importers refuse
    nothing twice but count it once. ``invoice_identities``: each legacy invoice key's
    preimage, which the importer checks and re-keys the invoice by."""
    if batch_size < 1:
        raise ScfError("batch_size must be at least 1", details={"batch_size": batch_size})
    records = discover(ledger, plan)
    unknown = [k for k in records["InvoiceRegistry"] if k not in invoice_identities]
    if unknown:
        raise ScfError(
            f"no invoice code and number for {len(unknown)} legacy invoice(s), first "
            f"0x{unknown[0].hex()}: the importer needs each one's identity",
            details={"legacy_keys": ["0x" + k.hex() for k in unknown]},
        )
    done: dict[str, int] = {}
    for name in UPGRADEABLE:
        successor = plan.successor(ledger, name)
        todo = [r for r in records[name] if not successor.call("isImported", _record_id(r))]
        total, imported = len(records[name]), len(records[name]) - len(todo)
        if progress:
            progress(name, imported, total)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            datas = [
                successor.encode(IMPORT_FUNCTIONS[name], *_import_args(r, invoice_identities))
                for r in batch
            ]
            send_batch(ledger, sender, successor.address, datas)
            imported += len(batch)
            if progress:
                progress(name, imported, total)
        done[name] = len(todo)
    return done


def adoption_calls(
    legacy: Consortium, plan: MigrationPlan, totals: dict[str, tuple[int, int]]
) -> list[Call]:
    """The proposal adopting the import: close each window on ``totals``, move each proxy to
    its released code, unpause. All or nothing: one figure off and nothing changes."""
    ledger = legacy.ledger
    calls: list[Call] = []
    for name in UPGRADEABLE:
        successor = plan.successor(ledger, name)
        count, total = totals[name]
        calls.append((successor, "closeImport", (count, total)))
        released = plan.released[name]
        calls.append(upgrade_call(successor, released, code_hash(ledger, released)))
    calls.append((legacy.governance, "unpause", ()))
    return calls


def is_adopted(ledger: Ledger, plan: MigrationPlan) -> bool:
    """Whether the adopting proposal executed: every successor closed its window (its
    ``LegacyImportClosed`` event is on the ledger) and runs its released code."""
    for name in UPGRADEABLE:
        successor = plan.successor(ledger, name)
        if implementation_of(successor) != plan.released[name]:
            return False
        closed = ledger.get_logs(
            {
                "address": successor.address,
                "topics": ["0x" + _IMPORT_CLOSED.hex()],
                "fromBlock": 0,
                "toBlock": "latest",
            }
        )
        if not closed:
            return False
    return True


def adopted(legacy: Consortium, plan: MigrationPlan) -> Consortium:
    """The consortium after adoption: the legacy governance and registries, the successors,
    and the legacy business contracts as retired (its nodes refuse transactions to them)."""
    ledger = legacy.ledger
    contracts = {n: h for n, h in legacy.contracts.items() if n not in UPGRADEABLE}
    contracts |= {n: ContractHandle.at(ledger, n, plan.successors[n]) for n in UPGRADEABLE}
    return Consortium(ledger, contracts, retired=dict(plan.legacy))


def send_batch(ledger: Ledger, signer: Signer, to: str, datas: Sequence[bytes]) -> list[TxReceipt]:
    """Send one transaction per ``datas`` to ``to`` with consecutive nonces, then wait for all;
    a revert raises ``ContractRevert`` (the ones before it stay done)."""
    nonce = ledger.get_transaction_count(signer.address, "pending")
    sent = []
    for offset, data in enumerate(datas):
        tx: dict[str, Any] = {
            "to": Web3.to_checksum_address(to),
            "data": data,
            "value": 0,
            "chainId": ledger.chain_id,
            "nonce": nonce + offset,
            **ledger.fee_params(),
        }
        estimate = ledger.estimate_gas({"from": signer.address, "to": tx["to"], "data": data})
        tx["gas"] = estimate + estimate * GAS_MARGIN_PERCENT // 100
        raw, tx_hash = signer.sign_transaction(tx)
        ledger.send_raw_transaction(raw)
        sent.append((tx, tx_hash))
    receipts = []
    for tx, tx_hash in sent:
        receipt = ledger.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            call = {"from": signer.address, "to": tx["to"], "data": tx["data"], "gas": tx["gas"]}
            raise ledger.revert_of(call, receipt)  # type: ignore[arg-type]
        receipts.append(receipt)
    return receipts


def _import_args(record: Any, identities: Mapping[bytes, InvoiceIdentity]) -> tuple[Any, ...]:
    if isinstance(record, bytes):  # a legacy invoice key
        return (record, *identities[record])
    return (record,)


def _record_id(record: Any) -> bytes:
    """A record as the importers key it: bytes32 of an id, a key or an account."""
    if isinstance(record, bytes):
        return record
    if isinstance(record, int):
        return record.to_bytes(32, "big")
    return bytes.fromhex(str(record).removeprefix("0x")).rjust(32, b"\0")


def _ids(count: int) -> list[int]:
    return list(range(1, count + 1))


# The legacy event that names each record the legacy contract cannot enumerate.
_FINDING_EVENTS = {
    "InvoiceRegistry": _INVOICE_REGISTERED,
    "SettlementToken": _TRANSFER,
    "Maturity": _ROOT_OVERDUE,
}


def _logs(ledger: Ledger, plan: MigrationPlan, name: str) -> Iterable[Any]:
    return ledger.get_logs(
        {
            "address": Web3.to_checksum_address(plan.legacy[name]),
            "topics": ["0x" + _FINDING_EVENTS[name].hex()],
            "fromBlock": 0,
            "toBlock": "latest",
        }
    )


def _legacy(ledger: Ledger, plan: MigrationPlan, name: str) -> ContractHandle:
    """Legacy contract ``name`` through the views its importer reads (``ILegacy*``)."""
    return ContractHandle(ledger, load_artifact(f"ILegacy{name}"), plan.legacy[name])
