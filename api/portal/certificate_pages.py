"""A certificate's own page, for whoever the API lets read it (its holder, an auditor, the
financier of a pending request on it): the certificate and the lineage the API shows this
member (``GET /v1/certificates/{id}`` and ``/{id}/lineage``), drawn as a tree and listed.
The holdings list links each certificate here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.portal.audit_pages import lineage_tree
from api.portal.member_api import ApiRefusal
from api.portal.pages import PortalDep, SignedInDep, WordsDep

router = APIRouter()
MAX_ID = 2**63 - 1


@router.get("/certificates/{certificate_id}")
async def read_certificate(
    request: Request,
    certificate_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: SignedInDep,
    portal: PortalDep,
    words: WordsDep,
) -> Response:
    view = await portal.view(user)
    context: dict[str, Any]
    status = 200
    try:
        found = await view.api.get(f"/v1/certificates/{certificate_id}")
        tree = await view.api.get(f"/v1/certificates/{certificate_id}/lineage")
        context = {"found": found, "lineage": lineage_tree(tree, view.names, certificate_id)}
    except ApiRefusal as refusal:  # not this member's to read: the API's words
        status = refusal.status
        context = {"refusal": refusal, "refusal_text": words.refusal(refusal)}
    return await portal.render_member_page(
        request, user, view, "certificate.html", status, checked=False, **context
    )
