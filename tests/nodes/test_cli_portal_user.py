"""``scf-node member portal-user``: the operator creates a member's first portal user on a
stopped home; the invitation code it shows once sets the person's password (the welcome
page's path), its TOTP secret is kept sealed, and a member that has a user already, a
wrong member or a wrong role are refused."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from api.portal import totp
from api.portal.totp_secrets import open_totp_secret
from api.portal.users import accept_invitation, check_sign_in
from api.readmodel.database import make_engine, session_factory
from api.readmodel.models import PortalAuditRow, PortalUserRow
from api.services.documents import DocumentVault
from nodes.connect import database_url
from nodes.home import NodeHome
from tests.nodes.test_cli_governance import cli, cli_json, init_dev_home, new_credit_code, said

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> NodeHome:
    return init_dev_home(tmp_path_factory.mktemp("portal-user"))


def _admit(home: NodeHome, name: str) -> int:
    outcome = cli_json(home, "member", "propose-admit", "--dev", "--name", name,
                       "--credit-code", new_credit_code(), "--role", "SUPPLIER")  # fmt: skip
    assert outcome["state"] == "EXECUTED"
    return int(outcome["member_id"])


def _user(home: NodeHome, email: str) -> PortalUserRow:
    with session_factory(make_engine(database_url(home)))() as session:
        row = session.scalars(select(PortalUserRow).where(PortalUserRow.email == email)).one()
        session.expunge(row)
        return row


def test_the_operator_creates_a_members_first_user_who_sets_a_password(home: NodeHome) -> None:
    member = _admit(home, "Wuxi Bearing Co., Ltd.")
    made = cli_json(home, "member", "portal-user", str(member), "--name", "Gao Min",
                    "--email", "Gao.Min@wuxi.example", "--json")  # fmt: skip
    assert (made["member_id"], made["email"], made["role"]) == (
        member,
        "gao.min@wuxi.example",
        "approver",
    )
    assert made["totp_uri"] is None
    sessions = session_factory(make_engine(database_url(home)))
    with sessions.begin() as session:
        accepted = accept_invitation(
            session, "gao.min@wuxi.example", made["invitation_code"], PASSWORD, int(time.time())
        )
        assert accepted.id == made["user_id"]
    with sessions.begin() as session:
        signed = check_sign_in(session, "gao.min@wuxi.example", PASSWORD, "", None)
        assert (signed.member_id, signed.role) == (member, "approver")
        audited = session.scalars(
            select(PortalAuditRow).where(PortalAuditRow.action == "create_portal_user")
        ).all()
        assert [(a.member_id, a.client) for a in audited][-1] == (member, "scf-node")

    # the first only: the member's own people invite the rest
    out = cli(home, "member", "portal-user", str(member), "--name", "Another",
              "--email", "another@wuxi.example", code=1)  # fmt: skip
    assert "has a portal user already" in said(out)


def test_a_first_user_with_totp_gets_its_secret_once_and_it_is_kept_sealed(
    home: NodeHome,
) -> None:
    member = _admit(home, "Jiaxing Seal Co., Ltd.")
    made = cli_json(home, "member", "portal-user", str(member), "--name", "Xu Hua",
                    "--email", "xu.hua@jiaxing.example", "--role", "operator", "--totp",
                    "--json")  # fmt: skip
    secret = parse_qs(urlsplit(made["totp_uri"]).query)["secret"][0]
    row = _user(home, "xu.hua@jiaxing.example")
    assert row.role == "operator"
    assert row.totp_secret is not None
    assert secret not in row.totp_secret
    vault = DocumentVault.open(home.path / "keys" / "documents.key")  # the node's key
    assert open_totp_secret(vault, row) == secret
    assert totp.verify_code(secret, totp.code_at(secret, time.time()))


def test_wrong_members_roles_and_taken_emails_are_refused(home: NodeHome) -> None:
    out = cli(home, "member", "portal-user", "77", "--name", "X", "--email", "x@x.example",
              code=1)  # fmt: skip
    assert "MemberNotFound(memberId=77)" in said(out)
    member = _admit(home, "Huzhou Spring Co., Ltd.")
    out = cli(home, "member", "portal-user", str(member), "--name", "X",
              "--email", "x@huzhou.example", "--role", "boss", code=1)  # fmt: skip
    assert "viewer, operator or approver" in said(out)
    other = _admit(home, "Shaoxing Dye Co., Ltd.")
    cli_json(home, "member", "portal-user", str(other), "--name", "Zhu Yi",
             "--email", "zhu.yi@shaoxing.example", "--json")  # fmt: skip
    out = cli(home, "member", "portal-user", str(member), "--name", "X",
              "--email", "zhu.yi@shaoxing.example", code=1)  # fmt: skip
    assert "exists already" in said(out)
