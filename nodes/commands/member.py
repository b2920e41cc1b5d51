"""``scf-node member``: see the members, propose admitting, suspending or reinstating one,
and issue or revoke API keys.

Proposals are signed by a governor; with one full-weight governor (admin mode)
they execute at once, in a committee they wait for ``scf-node proposal vote``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any

import typer

from chain.errors import ScfError
from chain.roles import Role
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
    reported_errors,
    table,
)
from nodes.connect import database_url
from nodes.home import NodeHome

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(
    rich_markup_mode="markdown",
    help="Consortium members: list, propose changes, API keys.",
    no_args_is_help=True,
)

MemberId = Annotated[int, typer.Argument(min=1, help="member id")]


@app.command("list")
def list_members(home_dir: HomeOption = None, as_json: JsonOption = False) -> None:
    """Every member ever admitted, with roles and status."""
    from nodes.commands import views

    with reading(home_of(home_dir)) as connection:
        found = views.members(connection.consortium)
    if as_json:
        print_json(found)
        return
    rows = [
        (m["id"], m["name"], ", ".join(m["roles"]), m["status"], len(m["accounts"])) for m in found
    ]
    console.print(table("Members", ("id", "name", "roles", "status", "accounts"), rows))


@app.command("show")
def show_member(
    member_id: MemberId, home_dir: HomeOption = None, as_json: JsonOption = False
) -> None:
    """One member: roles, status, signing accounts and its API keys (prefixes only)."""
    from nodes.commands import views

    home = home_of(home_dir)
    with reading(home) as connection:
        found = views.member(connection.consortium, member_id)
    found["api_keys"] = _api_keys(home, member_id)
    if as_json:
        print_json(found)
        return
    rows = [
        (k, ", ".join(v) if isinstance(v, list) else v) for k, v in found.items() if k != "api_keys"
    ]
    console.print(table(f"Member {member_id}", ("field", "value"), rows))
    keys = [(k["prefix"], k["label"], k["created_at"], k["revoked_at"]) for k in found["api_keys"]]
    console.print(table("API keys", ("prefix", "label", "created", "revoked"), keys))


@app.command("propose-admit")
def propose_admit(
    name: Annotated[str, typer.Option(help="registered company name")],
    credit_code: Annotated[str, typer.Option(help="unified social credit code (18 characters)")],
    role: Annotated[list[Role], typer.Option(help="role; repeat for several")],
    account: Annotated[
        str | None,
        typer.Option(help="signing account to bind (default: a new key held by this node)"),
    ] = None,
    fingerprint: Annotated[
        str | None, typer.Option(help="SHA-256 of the member's X.509 certificate, hex")
    ] = None,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose admitting a company as a member."""
    from api.services.custody import Custody
    from chain.deploy import MemberSpec

    home = home_of(home_dir)
    with reported_errors():
        spec = MemberSpec(
            name=name.strip(),
            credit_code=credit_code,
            roles=list(dict.fromkeys(role)),
            account=_checked_account(account) if account else "0x" + "00" * 20,
            certificate_fingerprint=_fingerprint(fingerprint),
        )
        spec.admit_args()  # validates the credit code before anything is created or signed
        if not spec.name:
            raise ScfError("the company name must not be empty")
    with governing(home, keystore, dev) as governor:
        members = governor.connection.consortium.members
        code_hash = spec.admit_args()[1]
        existing = int(members.call("memberIdByCreditCode", code_hash))
        if existing:  # refuse now rather than approve a proposal that cannot execute
            raise ScfError(
                f"member {existing} already has this credit code; nothing was proposed",
                details={"member_id": existing},
            )
        if account is None:  # custodial: the node signs for the member with this key
            custody = Custody(home.path / "keys" / "accounts", governor.passphrase)
            spec = dataclasses.replace(spec, account=custody.create_account().address)
        outcome = governor.propose_and_settle(
            [(members, "admitMember", spec.admit_args())], f"Admit {spec.name}"
        )
        outcome["account"] = spec.account
        if outcome["state"] == "EXECUTED":
            outcome["member_id"] = int(members.call("memberOf", spec.account))
    report_outcome(outcome, as_json, f"Admit {spec.name} (account {spec.account})")
    if not as_json and "member_id" in outcome:
        console.print(
            f"Member id {outcome['member_id']}. Issue its API key: "
            f"scf-node member api-key {outcome['member_id']}"
        )


@app.command("propose-suspend")
def propose_suspend(
    member_id: MemberId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose suspending a member: its accounts can no longer write, its certificates freeze."""
    _propose_status(home_of(home_dir), member_id, "suspendMember", keystore, dev, as_json)


@app.command("propose-reinstate")
def propose_reinstate(
    member_id: MemberId,
    home_dir: HomeOption = None,
    keystore: KeystoreOption = None,
    dev: DevOption = False,
    as_json: JsonOption = False,
) -> None:
    """Propose reinstating a suspended member."""
    _propose_status(home_of(home_dir), member_id, "reinstateMember", keystore, dev, as_json)


@app.command("api-key")
def api_key(
    member_id: MemberId,
    revoke: Annotated[
        str | None, typer.Option(help="revoke the member's keys with this prefix instead")
    ] = None,
    label: Annotated[str, typer.Option(help="a note on what the key is for")] = "",
    home_dir: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue an API key for a member (shown once), or revoke keys by prefix."""
    from api.services.api_keys import issue_key, revoke_key
    from nodes.commands import views

    home = home_of(home_dir)
    with reading(home) as connection:
        views.member(connection.consortium, member_id)  # MemberNotFound for a wrong id
    sessions = _sessions(home)
    with reported_errors(), sessions.begin() as session:
        if revoke is not None:
            count = revoke_key(session, member_id, revoke)
            if count == 0:
                raise fail(f"member {member_id} has no active API key with prefix {revoke!r}")
            result: dict[str, Any] = {"member_id": member_id, "revoked": count, "prefix": revoke}
        else:
            issued = issue_key(session, member_id, label=label)
            result = {"member_id": member_id, "key": issued.key, "prefix": issued.prefix}
    if as_json:
        print_json(result)
    elif revoke is not None:
        console.print(f"Revoked {result['revoked']} key(s) of member {member_id} ({revoke}).")
    else:
        console.print(f"API key of member {member_id} (shown only now, keep it secret):")
        typer.echo(result["key"])


def _propose_status(
    home: NodeHome, member_id: int, fn: str, keystore: Any, dev: bool, as_json: bool
) -> None:
    from nodes.commands import views

    with governing(home, keystore, dev) as governor:
        members = governor.connection.consortium.members
        current = views.member(governor.connection.consortium, member_id)  # MemberNotFound
        suspend = fn == "suspendMember"
        verb, needed = ("Suspend", "active") if suspend else ("Reinstate", "suspended")
        if current["status"] != needed:
            # it could not execute: in admin mode it would stay approved, executable later
            done = "suspended" if suspend else "reinstated"
            raise ScfError(
                f"member {member_id} is {current['status']}; only a {needed} member can be {done}"
            )
        outcome = governor.propose_and_settle(
            [(members, fn, (member_id,))], f"{verb} member {member_id}"
        )
    report_outcome(outcome, as_json, f"{verb} member {member_id}")


def _checked_account(account: str) -> str:
    from web3 import Web3

    if not Web3.is_address(account):
        raise ScfError(f"{account!r} is not an Ethereum address")
    return Web3.to_checksum_address(account)


def _fingerprint(value: str | None) -> bytes:
    if value is None:
        return b"\0" * 32
    try:
        raw = bytes.fromhex(value.removeprefix("0x").replace(":", ""))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ScfError(f"the certificate fingerprint must be 32 bytes of hex, got {value!r}")
    return raw


def _sessions(home: NodeHome) -> sessionmaker[Session]:
    from api.readmodel.database import make_engine, migrate, session_factory

    engine = make_engine(database_url(home))
    migrate(engine)  # a home whose node never ran has no read model yet
    return session_factory(engine)


def _api_keys(home: NodeHome, member_id: int) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from api.readmodel.models import ApiKeyRow
    from nodes.commands import views

    default_db = home.path / "scf.db"
    if database_url(home) == f"sqlite:///{default_db}" and not default_db.exists():
        return []  # the node never ran: no read model, no keys
    with _sessions(home)() as session:
        rows = session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.member_id == member_id).order_by(ApiKeyRow.created_at)
        ).all()
    return [
        {
            "prefix": row.prefix,
            "label": row.label,
            "created_at": views.utc(row.created_at),
            "revoked_at": None if row.revoked_at is None else views.utc(row.revoked_at),
        }
        for row in rows
    ]
