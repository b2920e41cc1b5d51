"""The consortium explorer, for its administrators (governors) and auditors: blocks,
transactions with their contract call and events decoded, members and nodes, and a search
by hash, number or credit code (``GET /v1/explorer/...``, ``/v1/members``) — through the
REST API in process, which refuses every other member (shown here in words)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.portal.member_api import MemberApi
from api.portal.pages import PREFIX, PortalDep, SignedInDep, WordsDep, render
from api.portal.sessions import SignedIn

router = APIRouter()
PATH = "/explorer"
BLOCKS_PER_PAGE = 20


async def _common(api: MemberApi, user: SignedIn) -> dict[str, Any]:
    """What every explorer page shows beside its own: who is signed in, member names.
    The explorer's own read comes first so that a member it refuses sees that refusal."""
    me = await api.get("/v1/members/me")
    members = (await api.get("/v1/members", limit=500))["items"]
    return {
        "user": user.user,
        "csrf_token": user.csrf_token,
        "me": me,
        "members": members,
        "names": {m["id"]: m["name"] for m in members},
    }


@router.get(PATH)
async def read_explorer(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The newest blocks (or those below ``before``), members and nodes."""
    api = portal.member_api(user)
    blocks = await api.get("/v1/explorer/blocks", limit=BLOCKS_PER_PAGE, **_given(before=before))
    nodes = (await api.get("/v1/explorer/nodes"))["items"]
    items = blocks["items"]
    older = items[-1]["number"] if items and items[-1]["number"] > 0 else None
    return render(
        request,
        "explorer.html",
        blocks=blocks,
        older=older,
        nodes=nodes,
        **await _common(api, user),
    )


@router.get(PATH + "/blocks/{number}")
async def read_block(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    number: Annotated[int, Path(ge=0)],
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    api = portal.member_api(user)
    block = await api.get(f"/v1/explorer/blocks/{number}", limit=50, offset=offset)
    return render(request, "explorer_block.html", block=block, **await _common(api, user))


@router.get(PATH + "/transactions/{tx_hash}")
async def read_transaction(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    tx_hash: Annotated[str, Path(pattern="^0x[0-9a-fA-F]{64}$")],
) -> Response:
    api = portal.member_api(user)
    tx = await api.get(f"/v1/explorer/transactions/{tx_hash}")
    return render(request, "explorer_transaction.html", tx=tx, **await _common(api, user))


@router.get(PATH + "/search")
async def search(
    request: Request,
    user: SignedInDep,
    portal: PortalDep,
    words: WordsDep,
    q: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    """One match of a block or transaction: go there; otherwise list what was found
    (a number may name a block and a member), or say nothing was."""
    api = portal.member_api(user)
    if not q.strip():
        return RedirectResponse(f"{PREFIX}{PATH}", status_code=303)
    matches = (await api.get("/v1/explorer/search", q=q))["matches"]
    if len(matches) == 1 and matches[0]["kind"] != "member":
        return RedirectResponse(_link(matches[0]), status_code=303)
    found: list[dict[str, Any]] = []
    for match in matches:
        shown: dict[str, Any] = {**match, "link": _link(match)}
        if match["kind"] == "member":
            shown["member"] = await api.get(f"/v1/members/{match['ref']}")
        found.append(shown)
    return render(
        request,
        "explorer_search.html",
        404 if not found else 200,
        query=q,
        found=found,
        nothing=words("explorer.nothing", query=q) if not found else "",
        **await _common(api, user),
    )


def _link(match: dict[str, str]) -> str:
    kind, ref = match["kind"], quote(match["ref"], safe="")
    if kind == "block":
        return f"{PREFIX}{PATH}/blocks/{ref}"
    if kind == "transaction":
        return f"{PREFIX}{PATH}/transactions/{ref}"
    return f"{PREFIX}{PATH}#member-{ref}"


def _given(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
