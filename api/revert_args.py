"""A contract's custom error as the API shows it: its arguments in the API's own units.

The ledger reports amounts in minor units, times in Unix seconds and states as enum
numbers; a client reads amounts as decimal strings, times in ISO 8601 (UTC) and states
by name everywhere else in the API, so an error says ``"available": "1000.00"`` and
``"status": "confirmed"`` rather than ``100000`` and ``2``. Which argument is which
follows the contracts' names (one meaning per name across them); the tests hold every
custom error of the contracts to a known kind for each argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from api.money import format_amount
from api.wire import utc_datetime, utc_day
from chain.governance import ProposalState, VoteType
from chain.scf import CreditLineStatus, FinancingStatus, InvoiceStatus


class MemberStatus(IntEnum):
    """Mirror of ``IMemberRegistry.MemberStatus``."""

    NONE = 0
    ACTIVE = 1
    SUSPENDED = 2


# settlement money, in minor units
MONEY = frozenset(
    {
        "allowance",
        "amount",
        "available",
        "balance",
        "cap",
        "discount",
        "faceValue",
        "limit",
        "locked",
        "minimum",
        "needed",
        "outstanding",
        "total",
        "used",
        "value",
    }
)
# the days the contracts keep as 00:00 UTC (maturity, invoice dates, credit line expiry)
DAYS = frozenset({"maturity", "issueDate", "dueDate"})
# instants (a financing request's expiry, when a root was or may be marked overdue)
INSTANTS = frozenset({"markedAt", "overdueFrom"})
# enum arguments by name, then by the error's contract (its name's prefix)
STATUS_BY_PREFIX: dict[str, type[IntEnum]] = {
    "Invoice": InvoiceStatus,
    "CreditLine": CreditLineStatus,
    "Financing": FinancingStatus,
    "Member": MemberStatus,
}
ENUMS: dict[str, type[IntEnum]] = {"state": ProposalState, "vote": VoteType}


def present(error_name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` (JSON-ready, as ``ContractRevert.details`` holds them) in the API's units."""
    return {name: _present(error_name, name, value) for name, value in args.items()}


def _present(error_name: str, name: str, value: Any) -> Any:
    if not isinstance(value, int) or isinstance(value, bool):
        return value
    if name in MONEY:
        return format_amount(value)
    if name in DAYS or (name == "expiresAt" and error_name.startswith("CreditLine")):
        return utc_day(value).isoformat()
    if name in INSTANTS or name == "expiresAt":
        return utc_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    enum = ENUMS.get(name)
    if name == "status":
        enum = next((e for p, e in STATUS_BY_PREFIX.items() if error_name.startswith(p)), None)
    if enum is not None:
        try:
            return enum(value).name.lower()
        except ValueError:  # a state this API does not know yet: the number, not a guess
            return value
    return value
