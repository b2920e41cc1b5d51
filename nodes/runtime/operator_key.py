"""The home's operator API key (``<home>/operator-api-key``): the key of the member whose
account is the home's governor key, and of no other member.

On the founding home that is member 1, the consortium operator (its account is the
founder's governor). A home that joined a consortium (``scf-node join``, etcd or external
network) has a governor key of its own that is no member's account until the committee
admits a member with it: such a home gets no operator key, so that one institution's
operator never authenticates as a member of another. Its operator issues its own
members' keys with ``scf-node member api-key``. A key file that a home kept from before
(a joined home's, issued for member 1) is revoked and removed at start.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from api.readmodel.models import ApiKeyRow
from api.services.api_keys import hash_key, issue_key
from chain.deploy import Consortium

log = logging.getLogger(__name__)

KEY_FILE = "operator-api-key"


def operator_member(consortium: Consortium, governor: str) -> int | None:
    """The member whose account ``governor`` is; None when it is no member's."""
    found = int(consortium.members.call("memberOf", governor))
    return found or None


def ensure_operator_key(
    home: Path, sessions: sessionmaker[Session], consortium: Consortium, governor: str
) -> Path | None:
    """The operator key file, issued for the governor's member if there is none yet; None
    when the governor key is no member's account (a stale file is revoked and removed)."""
    key_file = home / KEY_FILE
    member_id = operator_member(consortium, governor)
    if key_file.exists():
        key = key_file.read_text("utf-8").strip()
        with sessions.begin() as session:
            row = session.get(ApiKeyRow, hash_key(key))
            if row is not None and row.member_id == member_id:
                return key_file
            _revoke(session, key, row)
        key_file.unlink()
    if member_id is None:
        return None
    with sessions.begin() as session:
        issued = issue_key(session, member_id, label="operator")
    key_file.write_text(issued.key + "\n", "utf-8")
    key_file.chmod(0o600)
    return key_file


def _revoke(session: Session, key: str, row: ApiKeyRow | None) -> None:
    """A key file of another member than the governor's (a joined home's, issued for the
    founder's member before joined homes got none): it no longer authenticates."""
    if row is None:
        log.warning("the operator key file holds no key of this node's; removed")
        return
    if row.revoked_at is None:
        row.revoked_at = int(time.time())
    log.warning(
        "revoked the operator key %s of member %s: this home's governor key is not that "
        "member's account",
        row.prefix,
        row.member_id,
    )
