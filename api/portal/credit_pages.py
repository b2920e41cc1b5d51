"""The credit page: for a core enterprise, the credit lines it draws on and its repayment
calendar (the roots it issued, by maturity, with its settlement balance against what
falls due); for a financier, the lines it granted and its portfolio by core enterprise
(what it holds of each one's paper, beside the credit it gave it). Reads only, all
through the REST API in process."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.portal.pages import MemberView, PortalDep, SignedInDep

router = APIRouter()
PATH = "/credit"
SOON_DAYS = 30  # the calendar's "due within" horizon


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


async def _calendar(view: MemberView, today: date) -> dict[str, Any]:
    """The core enterprise's roots not yet repaid, by maturity, and its balance."""
    listed = (await view.api.get("/v1/certificates", limit=500))["items"]
    roots = [c for c in listed if c["issuer_id"] == view.me["id"] and c["parent_id"] == 0]
    due = []
    for root in roots:
        shown = await view.api.get(f"/v1/certificates/{root['id']}")
        if shown["repaid"]:
            continue
        maturity = date.fromisoformat(shown["maturity"])
        due.append({**shown, "days_left": (maturity - today).days})
    due.sort(key=lambda r: (r["maturity"], r["id"]))
    total = sum((Decimal(r["face_value"]) for r in due), Decimal(0))
    soon = sum((Decimal(r["face_value"]) for r in due if r["days_left"] <= SOON_DAYS), Decimal(0))
    balance = Decimal((await view.api.get("/v1/settlement/balance"))["balance"])
    return {
        "due": due,
        "total": _money(total),
        "soon": _money(soon),
        "balance": _money(balance),
        "short": _money(max(soon - balance, Decimal(0))),
    }


async def _portfolio(view: MemberView, granted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The financier's holdings grouped by the core enterprise that owes them, beside the
    open credit it granted each one."""
    held = await view.api.get("/v1/certificates", holder_id=view.me["id"], limit=500)
    by_issuer: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "count": 0,
            "value": Decimal(0),
            "next": None,
            "limit": Decimal(0),
            "used": Decimal(0),
        }
    )
    for c in held["items"]:
        if Decimal(c["value"]) == 0:
            continue
        row = by_issuer[c["issuer_id"]]
        row["count"] += 1
        row["value"] += Decimal(c["value"])
        row["next"] = min(filter(None, (row["next"], c["maturity"])))
    for line in granted:
        if line["status"] == "open":
            row = by_issuer[line["borrower_id"]]
            row["limit"] += Decimal(line["limit"])
            row["used"] += Decimal(line["used"])
    return [
        {
            "issuer_id": issuer,
            "count": row["count"],
            "value": _money(row["value"]),
            "next": row["next"],
            "limit": _money(row["limit"]),
            "used": _money(row["used"]),
        }
        for issuer, row in sorted(by_issuer.items())
    ]


@router.get(PATH)
async def read_credit(request: Request, user: SignedInDep, portal: PortalDep) -> Response:
    view = await portal.view(user)
    roles = view.me["roles"]
    lines = (await view.api.get("/v1/credit-lines", limit=500))["items"]
    as_of = (await view.api.get("/v1/risk/overdue", limit=1))["as_of"]
    today = datetime.fromisoformat(as_of.replace("Z", "+00:00")).date()
    core = "CORE_ENTERPRISE" in roles
    financier = "FINANCIER" in roles
    granted = [line for line in lines if line["financier_id"] == view.me["id"]]
    return await portal.render_member_page(
        request,
        user,
        view,
        "credit.html",
        core=core,
        financier=financier,
        today=today.isoformat(),
        soon_days=SOON_DAYS,
        borrowed=[line for line in lines if line["borrower_id"] == view.me["id"]],
        calendar=await _calendar(view, today) if core else None,
        granted=granted,
        portfolio=await _portfolio(view, granted) if financier else None,
    )
