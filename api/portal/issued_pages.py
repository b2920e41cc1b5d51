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
    MemberView,
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
    issuer = "CORE_ENTERPRISE" in view.me["roles"]
    return await portal.render_member_page(
        request,
        user,
        view,
        "issued.html",
        status,
        roots=roots,
        root=root,
        lineage=lineage,
        issuer=issuer,
        **(await _issuance_choices(view) if issuer else {}),
        **outcome,
    )


async def _issuance_choices(view: MemberView) -> dict[str, Any]:
    """What the issuance form offers: the invoices the member confirmed (确权) and has not
    yet issued against, and its open credit lines with room left."""
    invoices = (await view.api.get("/v1/invoices", limit=500))["items"]
    lines = (await view.api.get("/v1/credit-lines", limit=500))["items"]
    confirmed = [
        i for i in invoices if i["buyer_id"] == view.me["id"] and i["status"] == "confirmed"
    ]
    return {
        "confirmed": confirmed,
        "sellers": sorted({i["seller_id"] for i in confirmed}),
        "lines": [
            line
            for line in lines
            if line["borrower_id"] == view.me["id"]
            and line["status"] == "open"
            and Decimal(line["available"]) > 0
        ],
    }


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


@router.post(PATH + "/certificates")
async def issue_certificate(
    request: Request,
    user: PostedDep,
    portal: PortalDep,
    holder_id: Annotated[int, Form(ge=1)],
    face_value: Annotated[str, Form(max_length=32)],
    maturity: Annotated[str, Form(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    credit_line_id: Annotated[int, Form(ge=1)],
    invoice_keys: Annotated[list[str], Form(min_length=1, max_length=32)],
    idempotency_key: Annotated[str, Form(max_length=64)],
) -> Response:
    """Issue a root certificate to a supplier against invoices the member confirmed,
    drawing on one of its credit lines (``POST /v1/certificates``; it commits the core
    enterprise's credit, so maker-checker holds it for an approver)."""
    body = {
        "holder_id": holder_id,
        "face_value": face_value.strip(),
        "maturity": maturity,
        "credit_line_id": credit_line_id,
        "invoice_keys": invoice_keys,
    }

    async def issue() -> Acted:
        key = f"portal-{user.user.id}-{idempotency_key}-issue"
        return await portal.act(user, "issue_certificate", "/v1/certificates", body, key)

    def noted(issued: dict[str, Any]) -> dict[str, Any]:
        return {"certificate_id": issued["id"]}

    details = {k: v for k, v in body.items() if k != "invoice_keys"}
    page = functools.partial(_issued_page, request, portal, user)
    return await portal.finish(
        request, user, "issue_certificate", details, issue, page, "issued", noted
    )
