"""What every operator command shares: options, the signing governor, output and errors.

Every command module imports this one to build its options, also for ``--help``: what
it needs of web3, py-evm and the ledger it imports when a command runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from chain.errors import ContractRevert, ScfError, jsonable
from nodes.connect import Connection, connected
from nodes.governor import Governor, load_signer
from nodes.home import DEV_PASSPHRASE, NodeHome, default_home
from nodes.passphrase_rule import RULE, weakness

if TYPE_CHECKING:
    pass

console = Console()
errors = Console(stderr=True)

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="node home (default $SCF_HOME or ./.scf)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
DevOption = Annotated[
    bool,
    typer.Option(
        "--dev",
        help="use the fixed development passphrase (a development home uses it without --dev)",
    ),
]
KeystoreOption = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help="keystore of the governor who signs (default: the home's governor)",
        exists=True,
        dir_okay=False,
    ),
]


def home_of(home_dir: Path | None) -> NodeHome:
    return NodeHome(home_dir or default_home())


def passphrase(dev: bool, new: bool = False) -> str:
    """``SCF_PASSPHRASE``, else the development passphrase in development mode, else a prompt.
    A ``new`` passphrase (a new home's) is asked twice and, outside development mode, must
    pass the strength rule of ``nodes.passphrase_rule``."""
    chosen = _given_passphrase(dev, new)
    problem = None if dev or not new else weakness(chosen)
    if problem is not None:
        raise fail(
            f"this passphrase is too weak for a production home: {problem}. {RULE}. Choose "
            "another (SCF_PASSPHRASE or the prompt), or use --dev for a development home.",
            code=2,
        )
    return chosen


def _given_passphrase(dev: bool, new: bool) -> str:
    if os.environ.get("SCF_PASSPHRASE"):
        return os.environ["SCF_PASSPHRASE"]
    if dev:
        errors.print("[yellow]development mode: using the fixed development passphrase[/yellow]")
        return DEV_PASSPHRASE
    if not sys.stdin.isatty():  # a service or a pipe: a prompt would only read end-of-file
        raise fail(
            "no keystore passphrase: set SCF_PASSPHRASE to it (there is no terminal to ask "
            "on), or use --dev for a development home",
            code=2,
        )
    question = "New keystore passphrase" if new else "Keystore passphrase"
    return str(typer.prompt(question, hide_input=True, confirmation_prompt=new))


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Show SCF Chain errors as one line and exit non-zero; a revert names its custom error."""
    try:
        yield
    except ContractRevert as exc:
        raise fail(f"the contract reverted: {_unwrapped(exc)}") from None
    except ScfError as exc:
        raise fail(exc.message) from None


def _unwrapped(exc: ContractRevert) -> str:
    """A failed governance action names the error of the contract it called, too."""
    if exc.error_name != "GovernanceActionFailed":
        return exc.message
    from chain.revert import decode_revert

    inner = decode_revert(bytes(exc.error_args.get("reason", b"")))
    return f"{exc.message} -> {inner.message}"


def print_json(payload: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON.
    typer.echo(json.dumps(payload, indent=2, default=jsonable))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


def report_outcome(outcome: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        print_json(outcome)
        return
    console.print(
        f"{what}: proposal [bold]{outcome['proposal_id']}[/bold] is "
        f"[bold]{outcome['state']}[/bold] (block {outcome['block']}, {outcome['transaction']})"
    )


@contextmanager
def governing(home: NodeHome, keystore: Path | None, dev: bool) -> Iterator[Governor]:
    """A governor of ``home`` ready to sign; errors are reported by ``reported_errors``. A
    development home (``node.json`` says so) needs no ``--dev`` for its passphrase."""
    secret = passphrase(dev or home.is_dev())
    with reported_errors():
        signer = load_signer(home, keystore, secret)
        with connected(home) as connection, Governor.of(connection, signer, secret) as governor:
            yield governor


@contextmanager
def reading(home: NodeHome) -> Iterator[Connection]:
    """The home's ledger for a read-only command; errors are reported by ``reported_errors``."""
    with reported_errors(), connected(home) as connection:
        yield connection
