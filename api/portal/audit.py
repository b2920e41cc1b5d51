"""The portal's audit log: who (member, user, address) did what, and how it ended."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy.orm import Session

from api.readmodel.models import PortalAuditRow


def record(
    session: Session,
    *,
    member_id: int,
    user_id: int | None,
    action: str,
    outcome: str = "ok",
    client: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Add one entry (the caller commits, with the change it records where there is one)."""
    session.add(
        PortalAuditRow(
            at=int(time.time()),
            member_id=member_id,
            user_id=user_id,
            action=action,
            outcome=outcome,
            client=client[:64],
            details=json.dumps(details or {}, sort_keys=True, default=str),
        )
    )
