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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from chain.errors import ContractRevert, ScfError, jsonable
from chain.governance import Call, execution_failure, proposal_state
from nodes.connect import Connection, connected
from nodes.home import DEV_PASSPHRASE, NodeHome, default_home
from nodes.passphrase_rule import RULE, weakness

if TYPE_CHECKING:
    from web3.types import TxReceipt

    from chain.accounts import Signer
    from chain.contract import ContractHandle
    from chain.txmanager import TransactionManager

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


def load_signer(home: NodeHome, keystore: Path | None, secret: str) -> Signer:
    from eth_account import Account

    from chain.accounts import Signer

    path = keystore or home.keystore
    try:
        encrypted = json.loads(path.read_text("utf-8"))
        return Signer.from_key(Account.decrypt(encrypted, secret))
    except FileNotFoundError:
        raise ScfError(f"no keystore at {path}") from None
    except ValueError as exc:  # eth-account: "MAC mismatch" for a wrong passphrase
        raise ScfError(f"cannot open the keystore {path}: {exc}") from None


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


@dataclass
class Governor:
    """A governor signing through the home's transaction manager (its store records every
    transaction, as the node's writes are recorded)."""

    connection: Connection
    signer: Signer
    txm: TransactionManager
    passphrase: str = ""  # what opened the keystore; custodial keys are encrypted with it
    # Another governance contract to act on than the deployment's (a migration's successor).
    on: ContractHandle | None = None

    @classmethod
    @contextmanager
    def of(cls, connection: Connection, signer: Signer, secret: str) -> Iterator[Governor]:
        from chain.txmanager import TransactionManager
        from chain.txstore import TxStore

        store = TxStore(connection.home.path / "transactions.db")
        try:
            yield cls(connection, signer, TransactionManager(connection.ledger, store), secret)
        finally:
            store.close()

    @property
    def governance(self) -> ContractHandle:
        return self.on or self.connection.consortium.governance

    def transact(self, handle: ContractHandle, fn: str, *args: Any) -> TxReceipt:
        data = handle.encode(fn, *args)
        gas = self.txm.estimate(self.signer.address, handle.address, data)  # reverts early
        return self.txm.transact(self.signer, handle.address, data, gas=gas)

    def propose(self, calls: Sequence[Call], description: str) -> tuple[int, TxReceipt]:
        targets = [h.address for h, _, _ in calls]
        datas = [h.encode(fn, *args) for h, fn, args in calls]
        receipt = self.transact(self.governance, "propose", targets, datas, description)
        proposal_id = int(self.governance.event_args(receipt, "ProposalCreated")["proposalId"])
        return proposal_id, receipt

    def propose_and_settle(self, calls: Sequence[Call], description: str) -> dict[str, Any]:
        """Propose ``calls``; where the proposal stands after it (``outcome``): in admin
        mode it executed at once, in a committee it waits for votes."""
        proposal_id, receipt = self.propose(calls, description)
        return self.outcome(proposal_id, receipt)

    def act_on(self, fn: str, proposal_id: int, *args: Any) -> dict[str, Any]:
        """Send ConsortiumGovernance's ``fn`` (vote, execute, retally, revoke) on a proposal;
        where it stands after (``outcome``)."""
        receipt = self.transact(self.governance, fn, proposal_id, *args)
        return self.outcome(proposal_id, receipt)

    def outcome(self, proposal_id: int, receipt: TxReceipt) -> dict[str, Any]:
        """Where a proposal stands after ``receipt``; a failed execution raises its error."""
        failure = execution_failure(self.governance, receipt)
        state = proposal_state(self.governance, proposal_id)
        if failure is not None:
            raise ScfError(
                f"proposal {proposal_id} was approved but executing it failed: "
                f"{failure.message}; fix the cause, then `scf-node proposal execute "
                f"{proposal_id}`",
                details={"proposal_id": proposal_id, "error": failure.error_name},
            )
        return {
            "proposal_id": proposal_id,
            "state": state.name,
            "transaction": "0x" + bytes(receipt["transactionHash"]).hex(),
            "block": int(receipt["blockNumber"]),
        }


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
