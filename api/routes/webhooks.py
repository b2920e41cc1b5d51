"""Webhooks: a member registers URLs that receive its chain events, signed, at least once.

How deliveries are signed and retried: ``api.services.webhooks``. Which events a
member receives: ``api.services.event_visibility``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import CurrentMember, SessionDep, WritingMember, node_vault
from api.errors import ErrorResponse
from api.readmodel.models import WebhookDeliveryRow, WebhookRow
from api.schemas.common import CanonicalInt, Offset, PathId
from api.schemas.webhooks import (
    DeliveryList,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
)
from api.services import webhook_registry as registry
from api.services.container import services_of
from api.services.event_feed import format_event_id, known_event_names, parse_event_types
from api.services.webhook_targets import TargetPolicy
from api.settings import Settings, get_settings
from api.wire import optional_utc_datetime, utc_datetime

router = APIRouter(
    prefix="/v1/webhooks",
    tags=["integration"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


async def webhook_targets(settings: Annotated[Settings, Depends(get_settings)]) -> TargetPolicy:
    """Where webhooks may point: public addresses and the operator's allowed networks."""
    return TargetPolicy.from_setting(settings.webhook_allowed_networks)


TargetsDep = Annotated[TargetPolicy, Depends(webhook_targets)]


def to_public(row: WebhookRow) -> WebhookPublic:
    return WebhookPublic(
        id=row.id,
        url=row.url,
        event_types=registry.event_type_list(row),
        created_at=utc_datetime(row.created_at),
    )


def delivery_public(row: WebhookDeliveryRow) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id,
        event_id=format_event_id((row.block_number, row.log_index)),
        event_name=row.event_name,
        state=row.state,
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=utc_datetime(row.created_at),
        next_attempt_at=(
            optional_utc_datetime(row.next_attempt_at) if row.state == "pending" else None
        ),
        delivered_at=optional_utc_datetime(row.delivered_at),
    )


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=201,
    responses={
        409: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def create_webhook(
    body: WebhookCreate,
    member: WritingMember,
    session: SessionDep,
    targets: TargetsDep,
    request: Request,
) -> WebhookCreated:
    """Register a URL for the caller's events; the answer shows the signing secret, once.
    A URL at a loopback, private, link-local … address (or a name resolving to one) is
    ``422 webhook_target_forbidden`` unless the operator allows that network."""
    types = parse_event_types(
        body.event_types, known_event_names(services_of(request.app).consortium)
    )
    vault = node_vault(request, "this API node has no data key: it cannot keep webhook secrets")
    row, secret = registry.create_webhook(
        session, vault, targets, member.id, str(body.url), types, int(time.time())
    )
    return WebhookCreated(**to_public(row).model_dump(), secret=secret)


@router.get("", response_model=WebhookList)
def list_webhooks(
    member: CurrentMember,
    session: SessionDep,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> WebhookList:
    """The caller's own webhooks (without their secrets)."""
    rows, total = registry.list_webhooks(session, member.id, limit, offset)
    return WebhookList(items=[to_public(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, responses=NOT_FOUND)
def list_webhook_deliveries(
    webhook_id: PathId,
    member: CurrentMember,
    session: SessionDep,
    limit: Annotated[int, CanonicalInt, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> DeliveryList:
    """The delivery log of one of the caller's webhooks, newest first."""
    rows, total = registry.list_deliveries(session, member.id, webhook_id, limit, offset)
    items = [delivery_public(r) for r in rows]
    return DeliveryList(items=items, total=total, limit=limit, offset=offset)


@router.delete("/{webhook_id}", status_code=204, response_class=Response, responses=NOT_FOUND)
def delete_webhook(webhook_id: PathId, member: CurrentMember, session: SessionDep) -> None:
    """Stop a webhook: no new deliveries, pending ones are given up."""
    registry.delete_webhook(session, member.id, webhook_id, int(time.time()))
