"""``scf-node migrate``: a consortium deployed before the proxies adopts the current business
contracts by two proposals and an import anyone may run (chain/migration.py,
docs/decisions/0013, docs/operations.md 9).

The steps, each run by a governor of the home (the plan is kept in ``migration.json`` beside
the deployment, so every step after ``prepare`` and a crashed ``import`` pick it up again):

    scf-node migrate prepare          deploy the successors and their importers
    scf-node migrate propose-open     pause, wire, open the import windows (a proposal)
    scf-node migrate import           copy every record, in batches, resumable
    scf-node migrate propose-adopt    close the windows on the legacy figures, unpause
    scf-node migrate finish           point this node at the successors, retire the legacy
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from chain.migration import InvoiceIdentity, MigrationPlan
    from nodes.home import NodeHome

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Adopt the current business contracts in a consortium deployed before the proxies.",
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
    """Deploy the successors (the six business contracts behind proxies, bound to this
    consortium's governance and registries) and an importer implementation of each. Nothing
    changes until the committee votes to open the import."""
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
    """Propose opening the import: pause the consortium (the legacy contracts stand still),
    wire the successors, move each to its importer. Governors check the importers' code
    (`scf-node proposal check-implementation`) before voting."""
    from chain.migration import opening_calls

    home = home_of(home_dir)
    plan = _load_plan(home)
    what = "Open the import of the legacy business contracts"
    with governing(home, keystore, dev) as governor:
        _require_released_builds(governor.connection.consortium, plan)
        calls = opening_calls(governor.connection.consortium, plan, issuance_cap)
        outcome = governor.propose_and_settle(calls, what)
    report_outcome(outcome, as_json, what)


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


@app.command("propose-adopt")
def propose_adopt(
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose adopting the import: each window closes only if its count and total are the
    legacy figures read now (shown, and recorded in the proposal); then each successor runs
    the released code and the consortium is unpaused. One figure off and nothing changes."""
    from chain.migration import adoption_calls, expected_totals

    home = home_of(home_dir)
    plan = _load_plan(home)
    with governing(home, keystore, dev) as governor:
        consortium = governor.connection.consortium
        totals = expected_totals(consortium.ledger, plan)
        figures = ", ".join(f"{n} {c}/{t}" for n, (c, t) in totals.items())
        what = f"Adopt the imported business contracts (count/total: {figures})"
        outcome = governor.propose_and_settle(adoption_calls(consortium, plan, totals), what)
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


def _require_released_builds(consortium: Any, plan: MigrationPlan) -> None:
    """Refuse to propose code that is not this node's released build (the plan file could
    have been edited): every importer and every implementation the successors return to."""
    from chain.upgrades import check_implementation

    addresses = consortium.addresses() | plan.successors
    problems = []
    for name in plan.successors:
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
        console.print(
            f"{name}: legacy {plan.legacy[name]} -> successor {successor} "
            f"(importer {plan.importers[name]})"
        )
    console.print("next: scf-node migrate propose-open")
