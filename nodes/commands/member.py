"""``scf-node member``: see the members, propose admitting, suspending or reinstating one,
issue or revoke API keys, and create a member's first portal user.

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


@app.command("new-account")
def new_account(
    home_dir: HomeOption = None, dev: DevOption = False, as_json: JsonOption = False
) -> None:
    """A new custodial signing account held by this node, for a member of this institution
    to be admitted with (``propose-admit --account``, on a governor's node): in a
    consortium the member's key stays on its own institution's node."""
    from api.services.custody import Custody
    from nodes.commands.common import passphrase

    home = home_of(home_dir)
    secret = passphrase(dev or home.is_dev())
    with reported_errors():
        account = Custody(home.path / "keys" / "accounts", secret).create_account().address
    if as_json:
        print_json({"account": account})
    else:
        console.print(f"New custodial account {account}, held by {home.path}")


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


@app.command("portal-user")
def portal_user(
    member_id: MemberId,
    name: Annotated[str, typer.Option(help="the person's name, as the portal shows it")],
    email: Annotated[str, typer.Option(help="the e-mail the person signs in with")],
    role: Annotated[
        str, typer.Option(help="viewer, operator (经办) or approver (复核)")
    ] = "approver",
    totp: Annotated[bool, typer.Option(help="also a TOTP second factor (URI shown once)")] = False,
    home_dir: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a member's **first** member-portal user and its invitation code (shown once,
    valid for 7 days): hand it to the person, who sets a password at `/portal/welcome`.
    From then on the member's API key holder invites its other users
    (`POST /v1/portal/users`); this refuses a member that has an active user already."""
    import time

    from sqlalchemy import select

    from api.portal import audit
    from api.portal import totp as totp_codes
    from api.portal.users import create_user
    from api.readmodel.models import PortalUserRow
    from api.schemas.portal_users import Role as PortalRole
    from api.services.documents import DocumentVault
    from nodes.commands import views

    if role not in {r.value for r in PortalRole}:
        raise fail(f"the role is viewer, operator or approver, not {role!r}")
    home = home_of(home_dir)
    with reading(home) as connection:
        views.member(connection.consortium, member_id)  # MemberNotFound for a wrong id
    vault = DocumentVault.open(home.path / "keys" / "documents.key")  # seals a TOTP secret
    with reported_errors(), _sessions(home).begin() as session:
        active = session.scalars(
            select(PortalUserRow.email).where(
                PortalUserRow.member_id == member_id, PortalUserRow.disabled_at.is_(None)
            )
        ).first()
        if active is not None:
            raise fail(
                f"member {member_id} has a portal user already ({active}): its approvers or "
                "its API key holder invite the others (POST /v1/portal/users)"
            )
        invitation = create_user(
            session,
            member_id,
            name=name,
            email=email,
            role=PortalRole(role),
            now=int(time.time()),
            with_totp=totp,
            vault=vault,
        )
        user = invitation.user
        audit.record(
            session,
            member_id=member_id,
            user_id=None,
            action="create_portal_user",
            client="scf-node",
            details={"user_id": user.id, "role": user.role, "by": "operator"},
        )
        secret = invitation.totp_secret
        result = {
            "member_id": member_id,
            "user_id": user.id,
            "email": user.email,
            "role": user.role,
            "invitation_code": invitation.code,
            "invitation_expires_at": invitation.expires_at,
            "totp_uri": None if secret is None else totp_codes.provisioning_uri(secret, user.email),
        }
    if as_json:
        print_json(result)
        return
    console.print(
        f"Portal user {result['user_id']} ({result['email']}, {result['role']}) of member "
        f"{member_id}. Invitation code (shown only now; the person sets a password with it "
        "at /portal/welcome within 7 days):"
    )
    typer.echo(result["invitation_code"])
    if result["totp_uri"]:
        console.print("TOTP URI for the person's authenticator app (shown only now):")
        typer.echo(result["totp_uri"])


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
