"""``scf-node proposal``: the committee's work: list, show, vote, execute, revoke.

ConsortiumGovernance counts For and Against only; a governor who abstains simply
does not vote, which ``--abstain`` says instead of sending anything.
"""

from __future__ import annotations

from typing import Annotated

import typer

from chain.governance import ProposalState, VoteType
from nodes.commands import views
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

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Governance proposals: list, show, vote, execute, revoke.",
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
    with governing(home_of(home_dir), keystore, dev) as governor:
        receipt = governor.transact(governor.governance, "vote", proposal_id, int(choice))
        outcome = governor.outcome(proposal_id, receipt)
    report_outcome(outcome, as_json, f"Voted {choice.name}")


@app.command("execute")
def execute(
    proposal_id: ProposalId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Execute an approved proposal whose automatic execution failed, once the cause is fixed."""
    with governing(home_of(home_dir), keystore, dev) as governor:
        receipt = governor.transact(governor.governance, "execute", proposal_id)
        outcome = governor.outcome(proposal_id, receipt)
    report_outcome(outcome, as_json, "Executed")


@app.command("revoke")
def revoke(
    proposal_id: ProposalId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Withdraw a pending proposal you made."""
    with governing(home_of(home_dir), keystore, dev) as governor:
        receipt = governor.transact(governor.governance, "revoke", proposal_id)
        outcome = governor.outcome(proposal_id, receipt)
    report_outcome(outcome, as_json, "Revoked")
