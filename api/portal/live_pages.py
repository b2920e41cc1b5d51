"""Pages that follow the ledger: ``GET /portal/live`` relays the API's event stream
(``GET /v1/events``) as the signed-in member, under the API's rules of who sees which
event. Pages showing ledger state (holdings, invoices, issued certificates, the
financing inbox, the settlement balance) mark their lists ``data-live-region``; when an
event arrives, ``portal.js`` fetches the page again and swaps those lists, leaving alone a
list in which the person is filling a form.

The risk dashboard relays the same stream narrowed to alerts (``risk_pages``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from api.portal.pages import Portal, PortalDep, SignedInDep
from api.portal.sessions import SignedIn

router = APIRouter()
LIVE = "/live"
# an open stream is cut after this long and the browser reconnects (EventSource does, with
# Last-Event-ID): the session is checked again, so a signed-out or expired session, or a
# disabled user, stops receiving within this time; the reconnection counts as activity
STREAM_RECHECK_SECONDS = 300.0

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)]
Limit = Annotated[int | None, Query(ge=1, le=100)]


async def relay_events(
    user: SignedIn,
    portal: Portal,
    types: str | None,
    last_event_id: str | None,
    limit: int | None,
) -> Response:
    """The member's events of ``types`` (None: all it may see) as Server-Sent Events, as
    the API streams them; a browser resumes with ``Last-Event-ID``. ``limit`` ends the
    stream after that many, for a reader that wants only the next few."""
    query = {} if types is None else {"types": types}
    if limit is not None:
        query["limit"] = str(limit)
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    return await portal.member_api(user).stream(
        "/v1/events", query, headers, lifetime=STREAM_RECHECK_SECONDS
    )


@router.get(LIVE)
async def stream_ledger_events(
    user: SignedInDep,
    portal: PortalDep,
    last_event_id: LastEventId = None,
    limit: Limit = None,
) -> Response:
    """Every ledger event the member may see, for the pages that follow the ledger."""
    return await relay_events(user, portal, None, last_event_id, limit)
