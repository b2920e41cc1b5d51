"""Compare the read model with chain state; an empty list means they agree."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.readmodel.models import CertificateRow, MemberRow
from chain.deploy import Consortium
from chain.scf import get_certificate

MEMBER_STATUS = {1: "active", 2: "suspended"}


def reconcile(session: Session, consortium: Consortium) -> list[str]:
    """Differences between SQL rows and the contracts' state, one readable line each."""
    problems: list[str] = []
    members = consortium.members
    on_chain = int(members.call("memberCount"))
    in_sql = session.scalar(select(func.count()).select_from(MemberRow)) or 0
    if on_chain != in_sql:
        problems.append(f"members: {on_chain} on chain, {in_sql} in the read model")
    for row in session.scalars(select(MemberRow)):
        member = members.call("getMember", row.id)
        status, roles = MEMBER_STATUS.get(member[4], "unknown"), member[5]
        if (status, roles) != (row.status, row.roles):
            problems.append(
                f"member {row.id}: chain has {status} roles={roles}, "
                f"read model has {row.status} roles={row.roles}"
            )
    certificates = consortium.certificates
    on_chain = int(certificates.call("certificateCount"))
    in_sql = session.scalar(select(func.count()).select_from(CertificateRow)) or 0
    if on_chain != in_sql:
        problems.append(f"certificates: {on_chain} on chain, {in_sql} in the read model")
    for cert_row in session.scalars(select(CertificateRow)):
        c = get_certificate(consortium, cert_row.id)
        chain_view = (c.holder_id, c.value, c.locked, c.root_id, c.parent_id)
        sql_view = (
            cert_row.holder_id,
            cert_row.value,
            cert_row.locked,
            cert_row.root_id,
            cert_row.parent_id,
        )
        if chain_view != sql_view:
            problems.append(
                f"certificate {cert_row.id}: chain has (holder, value, locked, root, parent)="
                f"{chain_view}, read model has {sql_view}"
            )
    return problems
