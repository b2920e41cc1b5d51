"""``scf-node proposal``: the committee's work: list, show, vote, execute, revoke; the
committee's own rules: show them, propose changing governors, thresholds, the voting
period and parameters; upgrades of the business contracts: deploy an implementation,
propose it.

ConsortiumGovernance counts For and Against only; a governor who abstains simply
does not vote, which ``--abstain`` says instead of sending anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from chain.errors import ScfError
from chain.governance import MAX_VOTING_PERIOD_SECONDS, ProposalState, VoteType
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
    reading,
    report_outcome,
    table,
)
from nodes.governor import Governor

if TYPE_CHECKING:
    from pydantic import BaseModel

    from nodes.home import NodeHome

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Governance proposals: list, show, vote, execute, revoke; the committee's rules.",
    no_args_is_help=True,
)

ProposalId = Annotated[int, typer.Argument(min=1, help="proposal id")]
STATES = [s.name.lower() for s in ProposalState if s is not ProposalState.NONE]


@app.command("list")
def list_proposals(
    state: Annotated[
        str | None, typer.Option(help=f"only proposals in this state: {', '.join(STATES)}")
    ] = None,
    home_dir: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every proposal with its state and tally."""
    from nodes.commands import views

    wanted = None
    if state is not None:
        if state.lower() not in STATES:
            raise fail(f"unknown state {state!r}; one of: {', '.join(STATES)}", code=2)
        wanted = ProposalState[state.upper()]
    with reading(home_of(home_dir)) as connection:
        found = views.proposals(connection.consortium, wanted)
    if as_json:
        print_json(found)
        return
    rows = [
        (
            p["id"],
            p["state"],
            p["description"],
            f"{p['for_weight']}/{p['against_weight']}/{p['total_weight']}",
            p["deadline"],
        )
        for p in found
    ]
    columns = ("id", "state", "description", "for/against/total", "deadline")
    console.print(table("Proposals", columns, rows))


@app.command("show")
def show_proposal(
    proposal_id: ProposalId, home_dir: HomeOption = None, as_json: JsonOption = False
) -> None:
    """One proposal: its actions decoded, the votes and the tally."""
    from nodes.commands import views

    with reading(home_of(home_dir)) as connection:
        found = views.proposal(connection.consortium, proposal_id)
    if as_json:
        print_json(found)
        return
    fields = [(k, v) for k, v in found.items() if k not in ("votes", "actions")]
    console.print(table(f"Proposal {proposal_id}", ("field", "value"), fields))
    console.print(table("Actions", ("#", "call"), list(enumerate(found["actions"]))))
    console.print(table("Votes", ("governor", "vote"), list(found["votes"].items())))


@app.command("vote")
def vote(
    proposal_id: ProposalId,
    support: Annotated[
        bool | None,
        typer.Option("--for/--against", help="vote For or Against", show_default=False),
    ] = None,
    abstain: Annotated[bool, typer.Option("--abstain", help="do not vote")] = False,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Vote on a pending proposal; the vote that decides it also executes it."""
    if abstain:
        if support is not None:
            raise fail("choose one of --for, --against and --abstain", code=2)
        raise fail(
            "ConsortiumGovernance counts For and Against only: to abstain, do not vote "
            "(nothing was sent)",
            code=2,
        )
    if support is None:
        raise fail("say how to vote: --for or --against", code=2)
    choice = VoteType.FOR if support else VoteType.AGAINST
    _act_on(
        _Signing(home_dir, keystore, dev, as_json),
        f"Voted {choice.name}",
        "vote",
        proposal_id,
        int(choice),
    )


@app.command("execute")
def execute(
    proposal_id: ProposalId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Execute an approved proposal whose automatic execution failed, once the cause is fixed."""
    _act_on(_Signing(home_dir, keystore, dev, as_json), "Executed", "execute", proposal_id)


@app.command("retally")
def retally(
    proposal_id: ProposalId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Count a pending proposal again with the committee's current weights and thresholds
    (after a governor left or the rules changed, when nobody is left to vote on it)."""
    _act_on(_Signing(home_dir, keystore, dev, as_json), "Counted again", "retally", proposal_id)


@app.command("revoke")
def revoke(
    proposal_id: ProposalId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Withdraw a pending proposal you made."""
    _act_on(_Signing(home_dir, keystore, dev, as_json), "Revoked", "revoke", proposal_id)


# ---- the committee's own rules -------------------------------------------------------------

DescriptionOption = Annotated[
    str | None, typer.Option(help="what the committee is asked to decide (default: generated)")
]
Rule = TypeVar("Rule", bound="BaseModel")


@app.command("committee")
def show_committee(home_dir: HomeOption = None, as_json: JsonOption = False) -> None:
    """The committee: governors and weights, thresholds, voting period, pause flag."""
    from api.services.governance import Committee

    with reading(home_of(home_dir)) as connection:
        rules = Committee(connection.consortium, writer=None).settings()
    rules["governors"] = [{"address": a, "weight": w} for a, w in rules["governors"]]
    if as_json:
        print_json(rules)
        return
    rows = [(g["address"], g["weight"]) for g in rules["governors"]]
    console.print(table("Governors", ("account", "weight"), rows))
    settings = [
        ("total weight", rules["total_weight"]),
        ("participation", f"{rules['participation_percent']} % of all weight must vote"),
        ("win", f"{rules['win_percent']} % of the weight that voted must vote For"),
        ("voting period", f"{rules['voting_period_seconds']} s"),
        ("paused", "yes" if rules["paused"] else "no"),
    ]
    console.print(table("Rules", ("rule", "value"), settings))


@app.command("propose-governor")
def propose_governor(
    account: Annotated[
        str, typer.Argument(metavar="ACCOUNT", help="the governor's account, 0x-hex")
    ],
    weight: Annotated[int, typer.Option(help="its voting weight; 0 removes the governor")],
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose adding a governor, changing its weight, or removing it (--weight 0)."""
    from web3 import Web3

    from api.schemas.governance import SetGovernorProposal

    options = {"account": "ACCOUNT", "weight": "--weight"}
    rule = _validated(
        SetGovernorProposal, "set_governor", options, account, weight, description=description
    )
    address = Web3.to_checksum_address(rule.account)
    if int(address, 16) == 0:
        raise fail("ACCOUNT: the zero address cannot be a governor", code=2)

    def check(governor: Governor) -> None:
        if address == governor.governance.address:
            raise fail("ACCOUNT: the governance contract cannot govern itself", code=2)
        if rule.weight == 0:
            _require_removable(governor, address)

    signing = _Signing(home_dir, keystore, dev, as_json)
    _propose(signing, "set_governor", description, check, account=address, weight=rule.weight)


@app.command("propose-thresholds")
def propose_thresholds(
    participation: Annotated[int, typer.Option(help="percent of all weight that must vote, 1-100")],
    win: Annotated[
        int, typer.Option(help="percent of the weight that voted that must vote For, 1-100")
    ],
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose the committee's decision rule: participation and win thresholds."""
    from api.schemas.governance import SetThresholdsProposal

    options = {"participation_percent": "--participation", "win_percent": "--win"}
    rule = _validated(
        SetThresholdsProposal,
        "set_thresholds",
        options,
        participation,
        win,
        description=description,
    )
    _propose(
        _Signing(home_dir, keystore, dev, as_json),
        "set_thresholds",
        description,
        participation_percent=rule.participation_percent,
        win_percent=rule.win_percent,
    )


@app.command("propose-voting-period")
def propose_voting_period(
    seconds: Annotated[
        int,
        typer.Argument(
            help=f"how long proposals made from then on stay open, "
            f"1-{MAX_VOTING_PERIOD_SECONDS} seconds",
            metavar="SECONDS",
            show_default=False,
        ),
    ],
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose how long proposals stay open."""
    from api.schemas.governance import SetVotingPeriodProposal

    options = {"voting_period_seconds": "SECONDS"}
    rule = _validated(
        SetVotingPeriodProposal, "set_voting_period", options, seconds, description=description
    )
    _propose(
        _Signing(home_dir, keystore, dev, as_json),
        "set_voting_period",
        description,
        voting_period_seconds=rule.voting_period_seconds,
    )


@app.command("propose-parameter")
def propose_parameter(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="parameter name, e.g. GRACE_PERIOD or MIN_SPLIT")
    ],
    value: Annotated[
        int,
        typer.Argument(
            metavar="VALUE", help="in the parameter's unit: fen for amounts, seconds for periods"
        ),
    ],
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose setting a governance parameter the contracts read (keyed by keccak-256)."""
    from api.schemas.governance import SetParameterProposal

    options = {"key": "KEY", "value": "VALUE"}
    rule = _validated(
        SetParameterProposal, "set_parameter", options, key, value, description=description
    )
    signing = _Signing(home_dir, keystore, dev, as_json)
    _propose(signing, "set_parameter", description, key=rule.key, value=rule.value)


@app.command("propose-pause")
def propose_pause(
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose pausing the consortium: every business write stops until it is unpaused."""
    _propose(_Signing(home_dir, keystore, dev, as_json), "pause", description)


@app.command("propose-unpause")
def propose_unpause(
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose ending a pause of the consortium."""
    _propose(_Signing(home_dir, keystore, dev, as_json), "unpause", description)


# ---- upgrades (docs/decisions/0013) ---------------------------------------------------------

ContractName = Annotated[
    str,
    typer.Argument(
        metavar="CONTRACT",
        help="InvoiceRegistry, CreditLines, SettlementToken, CreditCertificates, "
        "FinancingHub or Maturity",
    ),
]


@app.command("deploy-implementation")
def deploy_implementation(
    contract: ContractName,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Deploy a new implementation of a business contract from the artifacts this node runs
    (contracts/build, or $SCF_ARTIFACTS_DIR), built with the contract's immutables; print its
    address and code hash for `propose-upgrade`. Nothing changes until the committee votes."""
    from chain.deploy import UPGRADEABLE
    from chain.upgrades import code_hash, implementation_creation

    if contract not in UPGRADEABLE:
        raise fail(f"CONTRACT: one of {', '.join(UPGRADEABLE)}", code=2)
    with governing(home_of(home_dir), keystore, dev) as governor:
        consortium = governor.connection.consortium
        data = implementation_creation(consortium, contract)
        gas = governor.txm.estimate(governor.signer.address, None, data)
        receipt = governor.txm.transact(governor.signer, None, data, gas=gas)
        address = str(receipt["contractAddress"])
        digest = "0x" + code_hash(consortium.ledger, address).hex()
    found = {"contract": contract, "implementation": address, "code_hash": digest}
    if as_json:
        print_json(found)
        return
    console.print(f"Deployed a {contract} implementation at [bold]{address}[/bold]")
    console.print(f"code hash {digest}")
    console.print(
        f"propose it: scf-node proposal propose-upgrade {contract} {address} --code-hash {digest}"
    )


@app.command("check-implementation")
def check_implementation(
    contract: ContractName,
    implementation: Annotated[
        str, typer.Argument(metavar="IMPLEMENTATION", help="the proposed implementation, 0x-hex")
    ],
    artifact: Annotated[
        Path | None,
        typer.Option(
            help="the released build's artifact (JSON) to compare with; "
            "default: the one this node runs"
        ),
    ] = None,
    home_dir: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Before voting on an upgrade: is the code at IMPLEMENTATION the released build of
    CONTRACT with this consortium's immutables (governance, the contracts it calls, its own
    address)? Exits 1, naming what differs, when it is not. During `scf-node migrate`,
    CONTRACT may be an importer (`<contract>Import`), checked against the successors."""
    import json

    from chain.artifacts import artifact_from_json
    from chain.deploy import UPGRADEABLE
    from chain.upgrades import check_implementation as check

    if contract.removesuffix("Import") not in UPGRADEABLE:
        raise fail(f"CONTRACT: one of {', '.join(UPGRADEABLE)} (or <contract>Import)", code=2)
    if not _is_address(implementation):
        raise fail("IMPLEMENTATION: a 0x-prefixed 20-byte hex address", code=2)
    build = None
    if artifact is not None:
        try:
            build = artifact_from_json(json.loads(artifact.read_text("utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise fail(f"--artifact: cannot read {artifact}: {exc}", code=2) from None
    home = home_of(home_dir)
    with reading(home) as connection:
        consortium = connection.consortium
        addresses = consortium.addresses() | _migration_successors(home)
        result = check(consortium, contract, implementation, artifact=build, addresses=addresses)
    found = {
        "contract": result.contract,
        "implementation": result.implementation,
        "code_hash": result.code_hash,
        "matches": result.matches,
        "problems": result.problems,
    }
    if as_json:
        print_json(found)
    elif result.matches:
        console.print(
            f"{implementation} is the released {contract} with this consortium's immutables; "
            f"code hash {result.code_hash}"
        )
    else:
        console.print(f"{implementation} is NOT the released {contract}:")
        for problem in result.problems:
            console.print(f"  - {problem}")
    if not result.matches:
        raise typer.Exit(1)


def _migration_successors(home: NodeHome) -> dict[str, str]:
    """The successors of a `scf-node migrate` under way (or done): what its importers and
    the successors' implementations are built with."""
    from nodes.commands.migrate import PLAN_FILE

    path = home.deployment.with_name(PLAN_FILE)
    if not path.exists():
        return {}
    from chain.migration import MigrationPlan

    return MigrationPlan.load(path).successors


def _is_address(text: str) -> bool:
    from web3 import Web3

    return text.startswith("0x") and Web3.is_address(text)


@app.command("propose-upgrade")
def propose_upgrade(
    contract: ContractName,
    implementation: Annotated[
        str, typer.Argument(metavar="IMPLEMENTATION", help="the new implementation, 0x-hex")
    ],
    code_hash: Annotated[
        str,
        typer.Option(
            "--code-hash",
            help="keccak-256 of its runtime code, as you checked it; the proposal records it",
        ),
    ],
    call_data: Annotated[
        str, typer.Option(help="run on the new code after the switch (a reinitializer), 0x-hex")
    ] = "0x",
    description: DescriptionOption = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose moving a business contract to a new implementation; its state, address and
    history stay. Refused at once if the code at IMPLEMENTATION does not hash to --code-hash."""
    from api.schemas.governance import UpgradeContractProposal

    options = {
        "contract": "CONTRACT",
        "implementation": "IMPLEMENTATION",
        "code_hash": "--code-hash",
        "call_data": "--call-data",
    }
    rule = _validated(
        UpgradeContractProposal,
        "upgrade_contract",
        options,
        contract,
        implementation,
        code_hash,
        call_data,
        description=description,
    )
    _propose(
        _Signing(home_dir, keystore, dev, as_json),
        "upgrade_contract",
        description,
        contract=rule.contract,
        implementation=rule.implementation,
        code_hash=rule.code_hash,
        call_data=rule.call_data,
    )


def _validated(
    model: type[Rule], kind: str, options: dict[str, str], *values: Any, description: str | None
) -> Rule:
    """The API's schema of this proposal checks the command line too, so both refuse the
    same input; a violation exits 2 naming the argument or option."""
    from pydantic import ValidationError

    fields = dict(zip(options, values, strict=True))
    named = options | {"description": "--description"}
    try:
        return model.model_validate({"kind": kind, "description": description or ""} | fields)
    except ValidationError as exc:
        problems = [f"{named.get(str(e['loc'][0]), '?')}: {e['msg']}" for e in exc.errors()]
        raise fail("; ".join(problems), code=2) from None


def _require_removable(governor: Governor, address: str) -> None:
    """Refuse now a removal that could never execute, rather than leave it approved."""
    from web3 import Web3

    current = [Web3.to_checksum_address(g) for g in governor.governance.call("governors")]
    if address not in current:
        raise ScfError(f"{address} is not a governor; nothing was proposed")
    if current == [address]:
        raise ScfError(f"{address} is the last governor; nothing was proposed")


@dataclass(frozen=True)
class _Signing:
    """The options of every signing command: whose home, which keystore, how to report."""

    home_dir: Path | None
    keystore: Path | None
    dev: bool
    as_json: bool


def _propose(
    signing: _Signing,
    kind: str,
    description: str | None,
    check: Callable[[Governor], None] = lambda _: None,
    **fields: Any,
) -> None:
    """Propose a ``kind`` of change (a ``kind`` of the API's proposal schemas), its calls
    built as the API builds them (``Committee.calls_for``), after ``check`` found nothing
    that would keep it from executing; report where it stands."""
    from api.services.governance import Committee

    with governing(home_of(signing.home_dir), signing.keystore, signing.dev) as governor:
        check(governor)
        committee = Committee(governor.connection.consortium, writer=None)
        calls, default = committee.calls_for(kind, **fields)
        outcome = governor.propose_and_settle(calls, description or default)
    report_outcome(outcome, signing.as_json, default)


def _act_on(signing: _Signing, what: str, fn: str, proposal_id: int, *args: Any) -> None:
    """Send governance's ``fn`` on a proposal as the home's governor; report where it stands."""
    with governing(home_of(signing.home_dir), signing.keystore, signing.dev) as governor:
        outcome = governor.act_on(fn, proposal_id, *args)
    report_outcome(outcome, signing.as_json, what)
