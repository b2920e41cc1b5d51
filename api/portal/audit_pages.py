"""The auditor's and regulator's page: every certificate's lineage (穿透式), read-only —
the roots issued across the consortium, and any certificate found by its id with the whole
tree of its root, drawn and listed (``GET /v1/certificates``, ``/{id}``, ``/{id}/lineage``,
which show an auditor everything) — through the REST API in process."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.portal.member_api import ApiRefusal, MemberApi
from api.portal.pages import PortalDep, SignedInDep, WordsDep, render
from api.portal.paging import newest

router = APIRouter()
PATH = "/audit"
AUDITOR = "AUDITOR"


def lineage_tree(node: dict[str, Any], names: dict[int, str], focus: int) -> dict[str, Any]:
    """A lineage node as the chart (``portal.js``) and the text list show it."""
    holder = names.get(node["holder_id"], f"#{node['holder_id']}")
    return {
        "id": node["id"],
        "name": f"#{node['id']} {holder}",
        "holder": holder,
        "value": node["value"],
        "redeemed": node["redeemed_value"],
        "focus": node["id"] == focus,
        "children": [lineage_tree(child, names, focus) for child in node["children"]],
    }


async def auditor_me(api: MemberApi) -> dict[str, Any]:
    """The signed-in user's member, refused in words unless it is an auditor: this page is
    theirs (the API would show others only their own part of each tree)."""
    me: dict[str, Any] = await api.get("/v1/members/me")
    if AUDITOR not in me["roles"]:
        raise ApiRefusal(403, "auditors_only", "this page is for auditors and regulators")
    return me


def _certificate_id(text: str) -> int | None:
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isdigit() and 0 < len(digits) <= 18 else None


@router.get(PATH)
async def read_audit(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    words: WordsDep,
    certificate: str | None = None,
) -> Response:
    """Roots across the consortium; with ``certificate`` (an id, as typed), that
    certificate and the lineage of its whole tree."""
    api = portal.member_api(user)
    me = await auditor_me(api)
    members = (await api.get("/v1/members", limit=500))["items"]
    names = {m["id"]: m["name"] for m in members}
    listed = await newest(api, "/v1/certificates", 500)
    roots = [c for c in listed["items"] if c["parent_id"] == 0]
    context: dict[str, Any] = {}
    status = 200
    if certificate is not None and certificate.strip():
        wanted = _certificate_id(certificate)
        try:
            if wanted is None:
                raise ApiRefusal(422, "invalid_certificate_id", "a certificate id is a number")
            found = await api.get(f"/v1/certificates/{wanted}")
            tree = await api.get(f"/v1/certificates/{wanted}/lineage")
            context = {"found": found, "lineage": lineage_tree(tree, names, wanted)}
        except ApiRefusal as refusal:
            status = refusal.status
            context = {"refusal": refusal, "refusal_text": words.refusal(refusal)}
    return render(
        request,
        "audit.html",
        status,
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        names=names,
        roots=sorted(roots, key=lambda c: -c["id"]),
        roots_total=listed["total"],
        asked=certificate or "",
        **context,
    )
