"""``scf-node migrate``: a consortium deployed before the proxies adopts the current
contracts, governance and registries included, by proposals of its committee and an import
anyone may run (chain/migration.py, docs/decisions/0013, docs/operations.md 9).

The steps, each run by a governor of the home (the plan is kept in ``migration.json`` beside
the deployment, so every step after ``prepare`` and a crashed ``import`` pick it up again):

    scf-node migrate prepare          deploy the successors (governance with the same committee,
                                      registries, business contracts) and the importers
    scf-node migrate propose-open     hand the legacy governance over and pause it (a legacy
                                      proposal, with the successor's settings); once that has
                                      executed: open the import windows (a successor proposal)
    scf-node migrate import           copy every record, in batches, resumable
    scf-node migrate propose-settle-invoices   keep or cancel the legacy invoices whose
                                      identity is not canonical today (a proposal)
    scf-node migrate propose-adopt    close the windows on the legacy figures, unpause
    scf-node migrate finish           point this node at the successors, retire the legacy
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nodes.commands.common import (
    DevOption,
    HomeOption,
    JsonOption,
    KeystoreOption,
    console,
    fail,
    governing,
    home_of,
    print_json,
    report_outcome,
)
from nodes.governor import Governor

if TYPE_CHECKING:
    from chain.governance import Call
    from chain.migration import InvoiceIdentity, MigrationPlan
    from nodes.home import NodeHome

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Adopt the current contracts in a consortium deployed before the proxies.",
    no_args_is_help=True,
)

PLAN_FILE = "migration.json"
DEFAULT_ISSUANCE_CAP = 10_000_000_000_00  # fen; as chain.deploy gives a new consortium


def _plan_path(home: NodeHome) -> Path:
    return home.deployment.with_name(PLAN_FILE)


def _load_plan(home: NodeHome) -> MigrationPlan:
    from chain.migration import MigrationPlan

    path = _plan_path(home)
    if not path.exists():
        raise fail(f"no migration under way: {path} is missing (run `scf-node migrate prepare`)")
    return MigrationPlan.load(path)


@app.command("prepare")
def prepare(
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Deploy the successors (a governance with this consortium's committee, the registries,
    the six business contracts behind proxies bound to them) and an importer implementation
    of each business contract. Nothing changes until the committee votes."""
    from chain.deploy import UPGRADEABLE
    from chain.migration import prepare as deploy_successors

    home = home_of(home_dir)
    if _plan_path(home).exists():
        raise fail(f"a migration is prepared already: {_plan_path(home)}")
    with governing(home, keystore, dev) as governor:
        consortium = governor.connection.consortium
        if consortium.retired or all(_is_proxy(consortium.contracts[name]) for name in UPGRADEABLE):
            raise fail("this consortium runs the proxied contracts already: nothing to adopt")
        plan = deploy_successors(consortium, governor.signer)
    plan.save(_plan_path(home))
    _show_plan(plan, as_json)


@app.command("propose-open")
def propose_open(
    issuance_cap: Annotated[
        int,
        typer.Option(min=1, help="ISSUANCE_CAP per financier in fen, if governance has none"),
    ] = DEFAULT_ISSUANCE_CAP,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose opening the import, in two turns. First (the legacy governance's last
    proposal): pause the consortium and make the successor governance the legacy one's only
    governor, plus the successor's settings (the legacy parameters, the issuance cap, the
    registry's account listener). Once the handover has executed, run it again: the successor
    governance pauses its contracts and opens the import windows. Governors check the code
    (`scf-node proposal check-implementation`) before voting; legacy proposals still open are
    listed: they are not carried over."""
    from chain.migration import (
        handover_calls,
        is_handed_over,
        open_proposals,
        opening_calls,
        settings_calls,
    )

    home = home_of(home_dir)
    plan = _load_plan(home)
    outcomes: list[dict[str, Any]] = []
    with governing(home, keystore, dev) as governor:
        legacy = governor.connection.consortium
        _require_released_builds(legacy, plan, governor.signer.address)
        successor = dataclasses.replace(governor, on=plan.governance(legacy.ledger))
        if not is_handed_over(legacy.governance, plan):
            left = open_proposals(legacy.governance)
            what = "Hand the legacy governance over to its successor and pause it"
            if left:
                what += f" (legacy proposals left open, not carried over: {left})"
            calls = handover_calls(legacy, plan)
            outcomes.append(_proposed(governor, calls, what, as_json))
            what = "Successor governance: legacy parameters, issuance cap, account listener"
            calls = settings_calls(legacy, plan, issuance_cap)
            outcomes.append(_proposed(successor, calls, what, as_json))
        if is_handed_over(legacy.governance, plan):
            what = "Open the import of the legacy contracts"
            outcomes.append(_proposed(successor, opening_calls(legacy, plan), what, as_json))
        elif not as_json:
            console.print("once the handover has executed: scf-node migrate propose-open")
    if as_json:
        print_json({"proposals": outcomes})


def _proposed(governor: Governor, calls: list[Call], what: str, as_json: bool) -> dict[str, Any]:
    """Propose ``calls`` on ``governor``'s governance; say where it stands unless in JSON."""
    outcome = governor.propose_and_settle(calls, what)
    outcome["governance"] = governor.governance.address
    if not as_json:
        report_outcome(outcome, False, what)
    return outcome


@app.command("import")
def run_import(
    identities: Annotated[
        Path | None,
        typer.Option(
            help="JSON object: legacy invoice key (0x-hex) -> [seller credit code, invoice "
            "code, invoice number], as the legacy key was computed; needed for every invoice"
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=500, help="transactions per batch")] = 50,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Copy every legacy record into its successor, in batches, showing progress. Run it again
    after a crash: what is imported already is skipped."""
    from chain.migration import import_all

    home = home_of(home_dir)
    plan = _load_plan(home)
    known = _read_identities(identities)

    def progress(contract: str, done: int, total: int) -> None:
        if not as_json:
            console.print(f"{contract}: {done}/{total}")

    with governing(home, keystore, dev) as governor:
        imported = import_all(
            governor.connection.ledger, plan, governor.signer, known, batch_size, progress
        )
    if as_json:
        print_json({"imported": imported})
    else:
        console.print(f"imported now: {sum(imported.values())} record(s)")


@app.command("propose-settle-invoices")
def propose_settle_invoices(
    keep: Annotated[
        list[str] | None,
        typer.Option(help="legacy invoice key (0x-hex) kept under it as an audited exception"),
    ] = None,
    cancel: Annotated[
        list[str] | None,
        typer.Option(help="legacy invoice key (0x-hex) cancelled: it never backs financing"),
    ] = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose (to the successor governance) what becomes of legacy invoices whose identity
    is not canonical today (their import reverts `InvoiceInvalidIdentity`, so adoption waits):
    each is kept under its legacy key as an audited exception, or cancelled. Then run
    `scf-node migrate import` again; settled invoices need no identity."""
    from chain.migration import settlement_calls

    decisions = {_key(k): True for k in keep or []} | {_key(k): False for k in cancel or []}
    if not decisions:
        raise fail("name at least one invoice: --keep 0x… or --cancel 0x…", code=2)
    home = home_of(home_dir)
    plan = _load_plan(home)
    what = "Settle legacy invoices: " + ", ".join(
        f"{'keep' if kept else 'cancel'} 0x{k.hex()}" for k, kept in decisions.items()
    )
    with governing(home, keystore, dev) as governor:
        ledger = governor.connection.ledger
        successor = dataclasses.replace(governor, on=plan.governance(ledger))
        outcome = successor.propose_and_settle(settlement_calls(ledger, plan, decisions), what)
    report_outcome(outcome, as_json, what)


def _key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise fail(f"not a legacy invoice key (32 bytes, 0x-hex): {text}", code=2)
    return key


@app.command("propose-adopt")
def propose_adopt(
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose (to the successor governance) adopting the import: each window closes only if
    its count and total are the legacy figures read now (shown, and recorded in the proposal);
    then each business successor runs the released code and the successors are unpaused. One
    figure off and nothing changes."""
    from chain.migration import adoption_calls, expected_totals

    home = home_of(home_dir)
    plan = _load_plan(home)
    with governing(home, keystore, dev) as governor:
        consortium = governor.connection.consortium
        totals = expected_totals(consortium.ledger, plan)
        figures = ", ".join(f"{n} {c}/{t}" for n, (c, t) in totals.items())
        what = f"Adopt the imported contracts (count/total: {figures})"
        successor = dataclasses.replace(governor, on=plan.governance(consortium.ledger))
        outcome = successor.propose_and_settle(adoption_calls(consortium, plan, totals), what)
    report_outcome(outcome, as_json, what)


@app.command("finish")
def finish(
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Once the adoption executed: point this node's deployment at the successors and list
    the legacy contracts as retired (the node refuses transactions to them after a restart).
    Every node of the consortium runs it."""
    from chain.migration import adopted, is_adopted

    home = home_of(home_dir)
    plan = _load_plan(home)
    with governing(home, keystore, dev) as governor:
        consortium = governor.connection.consortium
        if not is_adopted(consortium.ledger, plan):
            raise fail("not adopted yet: the adopting proposal has not executed")
        result = adopted(consortium, plan)
    result.save(home.deployment)
    found = {"contracts": result.addresses(), "retired": result.retired}
    if as_json:
        print_json(found)
        return
    console.print(f"{home.deployment} now names the successors; restart the node to refuse:")
    for name, address in result.retired.items():
        console.print(f"  {name} {address} (retired)")


def _require_released_builds(consortium: Any, plan: MigrationPlan, caller: str) -> None:
    """Refuse to propose code that is not this node's released build (the plan file could
    have been edited): the successor governance and registries, every importer and every
    implementation the business successors return to."""
    from chain.migration import check_plain_successors
    from chain.upgrades import check_implementation

    addresses = consortium.addresses() | plan.successors
    problems = check_plain_successors(consortium.ledger, plan, caller)
    for name in plan.importers:
        for contract, address in ((f"{name}Import", plan.importers[name]),
                                  (name, plan.released[name])):  # fmt: skip
            result = check_implementation(consortium, contract, address, addresses=addresses)
            problems += [f"{contract} {address}: {p}" for p in result.problems]
    if problems:
        raise fail("not the released build, nothing proposed: " + "; ".join(problems))


def _is_proxy(handle: Any) -> bool:
    from chain.errors import ScfError
    from chain.upgrades import implementation_of

    try:
        return bool(int(implementation_of(handle), 16))
    except (ScfError, ValueError):
        return False


def _read_identities(path: Path | None) -> dict[bytes, InvoiceIdentity]:
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text("utf-8"))
        return {
            bytes.fromhex(key.removeprefix("0x")): (str(v[0]), str(v[1]), str(v[2]))
            for key, v in raw.items()
        }
    except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise fail(f"--identities: cannot read {path}: {exc}", code=2) from None


def _show_plan(plan: MigrationPlan, as_json: bool) -> None:
    if as_json:
        print_json(plan.__dict__)
        return
    for name, successor in plan.successors.items():
        importer = plan.importers.get(name)
        console.print(
            f"{name}: legacy {plan.legacy[name]} -> successor {successor}"
            + (f" (importer {importer})" if importer else "")
        )
    console.print("next: scf-node migrate propose-open")
