"""Adopting a consortium deployed before the proxies: its whole state, by proposal.

A consortium deployed before issue 21 runs plain contracts that no vote can change: its
governance, registries and business contracts. It adopts the current ones under its own
committee (docs/decisions/0013, docs/operations.md 9):

1. ``prepare``: anyone deploys the successors: a ConsortiumGovernance with a copy of the legacy
   committee (governors, weights, thresholds, voting period), the MemberRegistry and
   NodeRegistry with an import window (``contracts/src/migration/RegistryImporters.sol``), the
   six business contracts behind proxies bound to them, and an importer implementation of each
   business contract (``LegacyImporters.sol``).
2. ``handover_calls``, a proposal of the legacy governance, its last: pause the consortium (the
   legacy business contracts stand still for good) and make the successor governance the legacy
   governance's only governor. From then on the legacy registries change only by the successor
   committee's vote, and legacy proposals still open can no longer be carried by a legacy vote
   (they are not carried over: they expire).
3. ``settings_calls`` and ``opening_calls``, proposals of the successor governance: copy the
   legacy parameters (and an issuance cap), make the successor token the registry's account
   listener; pause the successors, open the registries' windows (they check the handover) and
   move each business proxy to its importer, opening its window on its legacy contract.
4. ``import_all``: anyone imports every record: members, nodes, then the business records.
   Ids come from the legacy counters and lists; invoice keys, token holders and overdue roots
   from the legacy events, read in bounded block ranges. Idempotent, so a crash only means
   running it again.
5. ``adoption_calls``, a proposal of the successor governance: each window closes if the
   count and total of what it imported are the figures recorded in the proposal
   (``expected_totals``, read from the legacy views) and the legacy contract's own; each
   business proxy moves to its released code; the successors are unpaused. The nodes then
   refuse transactions to every legacy address (``Consortium.retired``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.crypto import keccak
from web3 import Web3

from chain.artifacts import load_artifact
from chain.contract import GAS_MARGIN_PERCENT, ContractHandle, creation_data, deploy_artifact
from chain.deploy import (
    ISSUANCE_CAP_KEY,
    UPGRADEABLE,
    CommitteeSpec,
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

GOVERNANCE = "ConsortiumGovernance"
REGISTRIES = ("MemberRegistry", "NodeRegistry")
# Every contract with an import window, in the order records depend on each other: members
# first (invoices are re-keyed by their seller's credit-code hash, read from the registry).
IMPORTED = (*REGISTRIES, *UPGRADEABLE)
# Every contract of the consortium that gets a successor.
MIGRATED = (GOVERNANCE, *IMPORTED)
# The most actions one proposal may carry (ConsortiumGovernance.MAX_ACTIONS).
MAX_ACTIONS = 16
# Blocks per eth_getLogs call when legacy events are read: providers limit a call's range.
LOG_SPAN = 5_000

# What each importer's import function is called.
IMPORT_FUNCTIONS = {
    "MemberRegistry": "importMember",
    "NodeRegistry": "importNode",
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
_PARAMETER_SET = keccak(text="ParameterSet(bytes32,uint256)")

Progress = Callable[[str, int, int], None]  # contract, records done, records in all
LogProgress = Callable[[int, int], None]  # block reached, head block
# A legacy invoice's identity: (seller credit code, invoice code, invoice number), normalized
# as the legacy key was computed from them (chain/invoice_key.py before issue 21).
InvoiceIdentity = tuple[str, str, str]


@dataclass(frozen=True)
class MigrationPlan:
    """Addresses of one adoption: the legacy contracts and their successors (by name, all nine),
    the business contracts' importers and the released implementations their proxies return to
    (the registries are their own importers). Saved beside the node's deployment so that a
    crashed run resumes with the same contracts."""

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
        """The successor of ``name``, seen through its importer's ABI (governance: its own)."""
        artifact = name if name == GOVERNANCE else f"{name}Import"
        return ContractHandle(ledger, load_artifact(artifact), self.successors[name])

    def governance(self, ledger: Ledger) -> ContractHandle:
        """The successor governance, which every successor obeys."""
        return self.successor(ledger, GOVERNANCE)


def committee_of(governance: ContractHandle) -> CommitteeSpec:
    """The committee a governance contract has now: governors, weights, thresholds, period."""
    governors = [str(g) for g in governance.call("governors")]
    return CommitteeSpec(
        governors=[(g, int(governance.call("weightOf", g))) for g in governors],
        participation_percent=int(governance.call("participationPercent")),
        win_percent=int(governance.call("winPercent")),
        voting_period=int(governance.call("votingPeriod")),
    )


def prepare(legacy: Consortium, deployer: Signer) -> MigrationPlan:
    """Deploy the successors and the business importers; nothing changes until the committee
    votes. The successor governance starts with a copy of the legacy committee, so that every
    step after this one is the committee's vote; nobody else ever governs the successors."""
    ledger = legacy.ledger
    committee = committee_of(legacy.governance)
    governance = deploy_artifact(
        ledger,
        deployer,
        load_artifact(GOVERNANCE),
        [g for g, _ in committee.governors],
        [w for _, w in committee.governors],
        committee.participation_percent,
        committee.win_percent,
        committee.voting_period,
    )
    members = deploy_artifact(
        ledger, deployer, load_artifact("MemberRegistryImport"), governance.address
    )
    nodes = deploy_artifact(
        ledger,
        deployer,
        load_artifact("NodeRegistryImport"),
        governance.address,
        members.address,
    )
    successors = deploy_business(ledger, deployer, governance, members)
    addresses = {
        GOVERNANCE: governance.address,
        "MemberRegistry": members.address,
        "NodeRegistry": nodes.address,
        **{n: h.address for n, h in successors.items()},
    }
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
        legacy={name: legacy.contracts[name].address for name in MIGRATED},
        successors={name: str(addresses[name]) for name in MIGRATED},
        importers=importers,
        released={name: implementation_of(handle) for name, handle in successors.items()},
    )


def handover_calls(legacy: Consortium, plan: MigrationPlan) -> list[Call]:
    """The legacy governance's last proposal: pause, then hand the legacy committee to the
    successor governance (its only governor from then on). Legacy proposals still open stay
    behind: no legacy governor's vote counts any more, so they expire (``open_proposals``)."""
    governance = legacy.governance
    governors = [str(g) for g in governance.call("governors")]
    successor = plan.successors[GOVERNANCE]
    calls: list[Call] = []
    if not governance.call("paused"):
        calls.append((governance, "pause", ()))
    calls.append((governance, "setGovernor", (successor, 1)))
    calls += [(governance, "setGovernor", (g, 0)) for g in governors if g != successor]
    if len(calls) > MAX_ACTIONS:
        raise ScfError(
            f"the legacy committee has {len(governors)} governors: the handover removes at "
            f"most {MAX_ACTIONS - 2} in one proposal; remove the others by proposal first",
            details={"governors": len(governors)},
        )
    return calls


def is_handed_over(legacy: ContractHandle, plan: MigrationPlan) -> bool:
    """Whether legacy governance ``legacy`` is paused with the successor as only governor."""
    governors = [str(g).lower() for g in legacy.call("governors")]
    return bool(legacy.call("paused")) and governors == [plan.successors[GOVERNANCE].lower()]


def open_proposals(governance: ContractHandle) -> list[int]:
    """Ids of the proposals a governance could still carry: pending, or approved with a failed
    execution (the legacy code lets those be retried forever). Not carried over."""
    open_states = (1, 2)  # Pending, Approved (ProposalState)
    count = int(governance.call("proposalCount"))
    return [i for i in range(1, count + 1) if governance.call("state", i) in open_states]


def legacy_parameters(ledger: Ledger, plan: MigrationPlan) -> dict[bytes, int]:
    """The legacy governance's parameters that are set (non-zero), by key: the keys from its
    ``ParameterSet`` events, the values read now."""
    legacy = ContractHandle(ledger, load_artifact(GOVERNANCE), plan.legacy[GOVERNANCE])
    keys = dict.fromkeys(bytes(log["topics"][1]) for log in _logs(ledger, plan, GOVERNANCE))
    values = {key: int(legacy.call("parameter", key)) for key in keys}
    return {key: value for key, value in values.items() if value}


def settings_calls(legacy: Consortium, plan: MigrationPlan, issuance_cap: int) -> list[Call]:
    """A proposal of the successor governance: the legacy parameters, ``issuance_cap`` as
    ISSUANCE_CAP if the legacy governance has none (the legacy token knew no cap; the
    successors mint nothing without one), and the successor token as the registry's account
    listener (balances follow a rotated account)."""
    ledger = legacy.ledger
    governance = plan.governance(ledger)
    members = plan.successor(ledger, "MemberRegistry")
    parameters = legacy_parameters(ledger, plan)
    parameters.setdefault(ISSUANCE_CAP_KEY, issuance_cap)
    calls: list[Call] = [(members, "setAccountListener", (plan.successors["SettlementToken"],))]
    calls += [(governance, "setParameter", (key, value)) for key, value in parameters.items()]
    if len(calls) > MAX_ACTIONS:
        raise ScfError(f"{len(parameters)} legacy parameters: more than one proposal carries")
    return calls


def opening_calls(legacy: Consortium, plan: MigrationPlan) -> list[Call]:
    """A proposal of the successor governance, after the handover executed: pause the
    successors, open the registries' windows (they refuse before the handover), wire the
    business successors and move each to its importer, opening its window on its legacy
    contract."""
    ledger = legacy.ledger
    governance = plan.governance(ledger)
    successors = {name: plan.successor(ledger, name) for name in UPGRADEABLE}
    calls: list[Call] = [(governance, "pause", ())]
    calls += [
        (plan.successor(ledger, name), "openImport", (plan.legacy[name],)) for name in REGISTRIES
    ]
    calls += wiring_calls(successors)
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


def discover(
    ledger: Ledger, plan: MigrationPlan, progress: Progress | None = None
) -> dict[str, list[Any]]:
    """Every record to import, by contract: member ids from the legacy counter, node ids from
    the legacy list, business ids from the legacy counters, invoice keys, token holders and
    overdue roots from the legacy events (the legacy contracts enumerate none of them). Found
    once the windows are open and the legacy contracts stand still."""

    def legacy(name: str) -> ContractHandle:
        return _legacy(ledger, plan, name)

    invoice_keys = [
        bytes(log["topics"][1]) for log in _logs(ledger, plan, "InvoiceRegistry", progress)
    ]
    holders: dict[str, None] = {}
    for log in _logs(ledger, plan, "SettlementToken", progress):
        for topic in log["topics"][1:3]:
            account = Web3.to_checksum_address(bytes(topic)[12:])
            if int(account, 16):
                holders[account] = None
    overdue = [
        int.from_bytes(log["topics"][1], "big") for log in _logs(ledger, plan, "Maturity", progress)
    ]
    nodes = _legacy(ledger, plan, "NodeRegistry").call("nodeIds")
    return {
        "MemberRegistry": _ids(legacy("MemberRegistry").call("memberCount")),
        "NodeRegistry": [bytes(n) for n in nodes],
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
    the legacy contract has one; the token's total is the legacy supply, the members' their
    bound accounts, the nodes' those on the allow-list."""
    records = discover(ledger, plan)

    def summed(name: str, view: str, field: str) -> int:
        legacy = _legacy(ledger, plan, name)
        return sum(int(legacy.call_struct(view, r)[field]) for r in records[name])

    token = _legacy(ledger, plan, "SettlementToken")
    holders = [a for a in records["SettlementToken"] if token.call("balanceOf", a) > 0]
    invoices = _legacy(ledger, plan, "InvoiceRegistry")
    members, nodes = _legacy(ledger, plan, "MemberRegistry"), _legacy(ledger, plan, "NodeRegistry")
    return {
        "MemberRegistry": (
            len(records["MemberRegistry"]),
            sum(len(members.call("accountsOf", m)) for m in records["MemberRegistry"]),
        ),
        "NodeRegistry": (len(records["NodeRegistry"]), nodes.call("allowedNodeCount")),
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
    """Import every record ``discover`` finds that is not imported yet (members and nodes
    first), ``batch_size`` transactions at a time; return how many each contract imported now.
    A certificate with more children than one call copies gets its first calls alone, one
    after the other (``_partial_calls``), then its last one in the batch. Safe to run again
    (after a crash, or twice): what is imported already is skipped, and the importers refuse
    nothing twice but count it once. ``invoice_identities``: each legacy invoice key's
    preimage, which the importer checks and re-keys the invoice by."""
    if batch_size < 1:
        raise ScfError("batch_size must be at least 1", details={"batch_size": batch_size})
    records = discover(ledger, plan, progress)
    invoices = plan.successor(ledger, "InvoiceRegistry")
    unknown = [
        k
        for k in records["InvoiceRegistry"]
        if k not in invoice_identities and not invoices.call("isImported", k)
    ]
    if unknown:
        raise ScfError(
            f"no invoice code and number for {len(unknown)} legacy invoice(s), first "
            f"0x{unknown[0].hex()}: the importer needs each one's identity",
            details={"legacy_keys": ["0x" + k.hex() for k in unknown]},
        )
    done: dict[str, int] = {}
    for name in IMPORTED:
        successor = plan.successor(ledger, name)
        todo = [r for r in records[name] if not successor.call("isImported", _record_id(r))]
        total, imported = len(records[name]), len(records[name]) - len(todo)
        if progress:
            progress(name, imported, total)
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            datas = [
                successor.encode(IMPORT_FUNCTIONS[name], *_import_args(name, r, invoice_identities))
                for r in batch
            ]
            for record, data in zip(batch, datas, strict=True):
                for _ in range(_partial_calls(ledger, plan, name, record)):
                    send_batch(ledger, sender, successor.address, [data])
            send_batch(ledger, sender, successor.address, datas)
            imported += len(batch)
            if progress:
                progress(name, imported, total)
        done[name] = len(todo)
    return done


def settlement_calls(
    ledger: Ledger, plan: MigrationPlan, decisions: Mapping[bytes, bool]
) -> list[Call]:
    """A proposal of the successor governance on legacy invoices whose identity is not
    canonical today (their import reverts ``InvoiceInvalidIdentity``): each is kept under its
    legacy key as an audited exception (True) or cancelled (False). Settled invoices count as
    imported; ``import_all`` needs no identity for them."""
    invoices = plan.successor(ledger, "InvoiceRegistry")
    calls: list[Call] = [(invoices, "settleInvoice", (k, keep)) for k, keep in decisions.items()]
    if not calls or len(calls) > MAX_ACTIONS:
        raise ScfError(f"1 to {MAX_ACTIONS} invoices per proposal, not {len(calls)}")
    return calls


def adoption_calls(
    legacy: Consortium, plan: MigrationPlan, totals: dict[str, tuple[int, int]]
) -> list[Call]:
    """A proposal of the successor governance adopting the import: close each window on
    ``totals``, move each business proxy to its released code, unpause the successors. All or
    nothing: one figure off and nothing changes."""
    ledger = legacy.ledger
    calls: list[Call] = []
    for name in IMPORTED:
        successor = plan.successor(ledger, name)
        count, total = totals[name]
        calls.append((successor, "closeImport", (count, total)))
        if name in UPGRADEABLE:
            released = plan.released[name]
            calls.append(upgrade_call(successor, released, code_hash(ledger, released)))
    calls.append((plan.governance(ledger), "unpause", ()))
    return calls


def check_plain_successors(ledger: Ledger, plan: MigrationPlan, caller: str) -> list[str]:
    """What differs between the code of the plain successors (governance, registries) and the
    released build deployed with the plan's addresses, dry-run as ``caller``: governors check
    them as they check the importers. Empty when every one matches byte for byte."""
    governance, members = plan.successors[GOVERNANCE], plan.successors["MemberRegistry"]
    builds: dict[str, tuple[str, tuple[Any, ...]]] = {
        # the committee is storage, not code: any valid one builds the same code
        GOVERNANCE: (GOVERNANCE, ([caller], [1], 100, 100, 1)),
        "MemberRegistry": ("MemberRegistryImport", (governance,)),
        "NodeRegistry": ("NodeRegistryImport", (governance, members)),
    }
    problems = []
    for name, (build, args) in builds.items():
        data = creation_data(load_artifact(build), *args)
        expected = ledger.call({"from": Web3.to_checksum_address(caller), "data": data})
        if ledger.get_code(plan.successors[name]) != expected:
            problems.append(f"{build} {plan.successors[name]}: the code is not the released build")
    return problems


def is_adopted(ledger: Ledger, plan: MigrationPlan) -> bool:
    """Whether the adopting proposal executed: every window closed (its ``LegacyImportClosed``
    event is on the ledger) and every business successor runs its released code. (The same
    proposal unpaused the successors; a later pause of the committee's does not undo it.)"""
    for name in UPGRADEABLE:
        if implementation_of(plan.successor(ledger, name)) != plan.released[name]:
            return False
    for name in IMPORTED:
        closed = logs_in_ranges(ledger, plan.successors[name], _IMPORT_CLOSED)
        if not closed:
            return False
    return True


def adopted(legacy: Consortium, plan: MigrationPlan) -> Consortium:
    """The consortium after adoption: every successor under its plain name, and every legacy
    contract as retired (its nodes refuse transactions to them)."""
    ledger = legacy.ledger
    contracts = {n: h for n, h in legacy.contracts.items() if n not in MIGRATED}
    contracts |= {n: ContractHandle.at(ledger, n, plan.successors[n]) for n in MIGRATED}
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


def _partial_calls(ledger: Ledger, plan: MigrationPlan, name: str, record: Any) -> int:
    """How many calls importing ``record`` takes before the one that completes it: only a
    certificate with more children left than one call copies (``CHILDREN_PER_IMPORT``, so that
    each call stays under the node's per-transaction gas cap) takes any."""
    if name != "CreditCertificates":
        return 0
    successor = plan.successor(ledger, name)
    children = int(_legacy(ledger, plan, name).call_struct("getCertificate", record)["childCount"])
    left = children - int(successor.call("childrenImported", record))
    per_call = int(successor.call("CHILDREN_PER_IMPORT"))
    return max(0, -(-left // per_call) - 1)


def _import_args(
    name: str, record: Any, identities: Mapping[bytes, InvoiceIdentity]
) -> tuple[Any, ...]:
    if name == "InvoiceRegistry":  # a legacy invoice key, with its identity
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
    GOVERNANCE: _PARAMETER_SET,
    "InvoiceRegistry": _INVOICE_REGISTERED,
    "SettlementToken": _TRANSFER,
    "Maturity": _ROOT_OVERDUE,
}


def logs_in_ranges(
    ledger: Ledger,
    address: str,
    topic: bytes,
    span: int = LOG_SPAN,
    progress: LogProgress | None = None,
) -> list[Any]:
    """The logs of ``address`` with first topic ``topic`` from block 0 to the head, read in
    calls of at most ``span`` blocks (providers refuse or truncate a call over a long chain);
    ``progress`` hears each block reached."""
    if span < 1:
        raise ScfError("span must be at least 1", details={"span": span})
    head = ledger.block_number()
    found: list[Any] = []
    for start in range(0, head + 1, span):
        end = min(start + span - 1, head)
        found += ledger.get_logs(
            {
                "address": Web3.to_checksum_address(address),
                "topics": ["0x" + topic.hex()],
                "fromBlock": start,
                "toBlock": end,
            }
        )
        if progress:
            progress(end, head)
    return found


def _logs(
    ledger: Ledger, plan: MigrationPlan, name: str, progress: Progress | None = None
) -> list[Any]:
    """The legacy events naming ``name``'s records; ``progress`` hears ("<name> events",
    block reached, head) per range."""

    def reached(block: int, head: int) -> None:
        if progress:
            progress(f"{name} events", block, head)

    return logs_in_ranges(ledger, plan.legacy[name], _FINDING_EVENTS[name], progress=reached)


def _legacy(ledger: Ledger, plan: MigrationPlan, name: str) -> ContractHandle:
    """Legacy contract ``name`` through the views its importer reads (``ILegacy*``)."""
    return ContractHandle(ledger, load_artifact(f"ILegacy{name}"), plan.legacy[name])
