"""The issuer's page (a core enterprise): the root certificates it issued with how each
stands with repayment, a root's lineage down every tier (``GET
/v1/certificates/{id}/lineage``, drawn as a tree and listed as text), and repayment
(``POST /v1/repayments``, money-moving: held for an approver under maker-checker) — all
through the REST API in process."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.portal.pages import (
    Acted,
    Portal,
    PortalDep,
    PostedDep,
    SignedInDep,
)
from api.portal.sessions import SignedIn

router = APIRouter()
PATH = "/issued"


def _tree(node: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
    """A lineage node as the chart and the text list show it."""
    holder = names.get(node["holder_id"], f"#{node['holder_id']}")
    return {
        "id": node["id"],
        "name": f"#{node['id']} {holder}",
        "holder": holder,
        "value": node["value"],
        "redeemed": node["redeemed_value"],
        "children": [_tree(child, names) for child in node["children"]],
    }


def _root(
    root: dict[str, Any], listed: list[dict[str, Any]], aged: list[dict[str, Any]]
) -> dict[str, Any]:
    """A root as the page shows it: its face value (what its tree holds and has redeemed:
    splits keep the sum) and how it stands, from the API's aging report (outstanding
    certificates only: a tree wholly redeemed was repaid)."""
    tree = [c for c in listed if c["root_id"] == root["id"]]
    face = sum((Decimal(c["value"]) + Decimal(c["redeemed_value"]) for c in tree), Decimal(0))
    live = [a for a in aged if a["root_id"] == root["id"]]
    return {
        **root,
        "face_value": f"{face:.2f}",
        "repaid": any(a["repaid"] for a in live) or not live,
        "overdue": any(a["overdue"] for a in live),
    }


async def _issued_page(
    request: Request,
    portal: Portal,
    user: SignedIn,
    status: int = 200,
    root: int | None = None,
    **outcome: Any,
) -> HTMLResponse:
    view = await portal.view(user)
    listed = (await view.api.get("/v1/certificates", limit=500))["items"]
    aged = (await view.api.get("/v1/risk/overdue", limit=500))["items"]
    roots = [
        _root(c, listed, aged)
        for c in listed
        if c["issuer_id"] == view.me["id"] and c["parent_id"] == 0
    ]
    lineage = None
    if root is not None:
        lineage = _tree(await view.api.get(f"/v1/certificates/{root}/lineage"), view.names)
    return await portal.render_member_page(
        request,
        user,
        view,
        "issued.html",
        status,
        roots=roots,
        root=root,
        lineage=lineage,
        **outcome,
    )


@router.get(PATH)
async def read_issued(
    request: Request, user: SignedInDep, portal: PortalDep, root: int | None = None
) -> Response:
    """The roots issued; with ``root``, also that root's lineage."""
    return await _issued_page(request, portal, user, root=root)


@router.post("/repayments")
async def repay_root(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    root_id: Annotated[int, Form(ge=1)],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Repay a root's face value (the ledger pays its holders at redemption)."""

    async def repay() -> Acted:
        return await portal.act(
            user,
            "repay",
            "/v1/repayments",
            {"root_id": root_id},
            f"portal-{user.user.id}-{idempotency_key}-repay",
        )

    details: dict[str, Any] = {"root_id": root_id}
    page = functools.partial(_issued_page, request, portal, user)
    return await portal.finish(request, user, "repay", details, repay, page, "repaid")
