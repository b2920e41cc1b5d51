"""The risk dashboard, for every member as far as the API shows it: exposure by core
enterprise (``GET /v1/risk/exposures``: core enterprises, financiers and auditors), aging
buckets of outstanding certificates (``/v1/risk/overdue``) and alerts (``/v1/risk/alerts``),
with new alerts as they happen: the page's script subscribes to ``/portal/risk/events``,
the API's own event stream (``GET /v1/events?types=RiskAlert``) relayed as the member."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.portal.live_pages import LastEventId, Limit, relay_events
from api.portal.member_api import ApiRefusal
from api.portal.pages import PREFIX, PortalDep, SignedInDep, WordsDep, render
from api.portal.paging import newest

router = APIRouter()
PATH = "/risk"
EVENTS = f"{PATH}/events"
ALERT_EVENT = "RiskAlert"  # the event feed's name of an alert (api.services.alerts)
ALERT_KINDS = ("duplicate_invoice", "circular_transfer", "concentration", "overdue")
SHOWN_ALERTS = 50


@router.get(PATH)
async def read_risk(
    request: Request, user: SignedInDep, portal: PortalDep, words: WordsDep
) -> Response:
    api = portal.member_api(user)
    me = await api.get("/v1/members/me")
    members = (await api.get("/v1/members", limit=500))["items"]
    names = {m["id"]: m["name"] for m in members}
    exposure: dict[str, Any] = {}
    try:
        exposure = {"exposures": await api.get("/v1/risk/exposures")}
    except ApiRefusal as refusal:
        if refusal.status != 403:
            raise
        # a supplier's aging and alerts are its own; exposure is not its to see
        exposure = {"exposure_refused": words.refusal(refusal)}
    aging = await api.get("/v1/risk/overdue", limit=100)
    alerts = await newest(api, "/v1/risk/alerts", SHOWN_ALERTS)
    cores = exposure["exposures"]["core_enterprises"] if "exposures" in exposure else []
    return render(
        request,
        "risk.html",
        user=user.user,
        csrf_token=user.csrf_token,
        me=me,
        names=names,
        aging=aging,
        alerts=list(reversed(alerts["items"])),  # newest first
        alerts_total=alerts["total"],
        chart={
            "names": [c["name"] for c in cores],
            "series": {
                key: [c[key] for c in cores]
                for key in ("outstanding", "credit_limit", "credit_used")
            },
            "labels": {
                key: words(f"risk.{key}") for key in ("outstanding", "credit_limit", "credit_used")
            },
        },
        buckets={
            "names": [words(f"risk.bucket.{b['bucket']}") for b in aging["buckets"]],
            "values": [b["value"] for b in aging["buckets"]],
        },
        live={
            "stream": f"{PREFIX}{EVENTS}",
            "kinds": {kind: words(f"risk.kind.{kind}") for kind in ALERT_KINDS},
            "severities": {s: words(f"risk.severity.{s}") for s in ("high", "medium")},
            "names": {str(k): v for k, v in names.items()},
            "connected": words("risk.live.connected"),
            "lost": words("risk.live.lost"),
            "new": words("risk.live.new"),
        },
        **exposure,
    )


@router.get(EVENTS)
async def stream_alerts(
    user: SignedInDep, portal: PortalDep, last_event_id: LastEventId = None, limit: Limit = None
) -> Response:
    """The member's alerts as Server-Sent Events, as the API streams them (its rules
    decide who sees which)."""
    return await relay_events(user, portal, ALERT_EVENT, last_event_id, limit)
