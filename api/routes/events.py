"""``GET /v1/events``: the chain events the caller may see, as Server-Sent Events.

Each event is one SSE message: ``id: <block>-<logIndex>`` and JSON ``data`` (see
``api.services.event_feed``; no ``event:`` field, so a browser's ``onmessage`` gets
them all). Resume with the standard ``Last-Event-ID`` header, or ``?after=<id>`` on a
first connection; ``Last-Event-ID`` wins, because a browser re-sends the original URL
with it. Without either, the stream starts at the newest indexed event (``after=0-0``
replays from the start: the genesis block has no events). FastAPI sends a
``: ping`` comment every 15 s while idle. ``?limit=`` ends the stream after that many
events, for batch readers; the stream also ends when the client disconnects.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.orm import Session, sessionmaker

from api.deps import CurrentMember, SessionDep
from api.errors import ErrorResponse
from api.schemas.common import CanonicalInt
from api.schemas.webhooks import EventPublic
from api.services.container import services_of
from api.services.event_feed import (
    Batch,
    Position,
    StreamEnded,
    format_event_id,
    head_position,
    known_event_names,
    parse_event_id,
    parse_event_types,
    visible_batch,
)
from api.services.event_visibility import Viewer
from api.services.visibility import is_auditor

log = logging.getLogger(__name__)

# An idle stream reads the read model again after this long even if the head watcher saw
# nothing new: the member may have been suspended, which ends its stream
IDLE_RECHECK_SECONDS = 30.0

router = APIRouter(
    prefix="/v1/events",
    tags=["integration"],
    responses={
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)


@dataclass(frozen=True)
class StreamRequest:
    viewer: Viewer
    start: Position
    types: frozenset[str]
    limit: int | None


def get_stream_request(
    request: Request,
    member: CurrentMember,
    session: SessionDep,
    after: Annotated[
        str | None,
        Query(max_length=40, description="start after this event id, '<block>-<logIndex>'"),
    ] = None,
    types: Annotated[
        list[str],
        Query(description="only these event names (comma-separated or repeated)"),
    ] = [],  # noqa: B006 - FastAPI copies query defaults
    limit: Annotated[
        int | None,
        CanonicalInt,
        Query(ge=1, le=100_000, description="end the stream after this many events"),
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamRequest:
    """Check everything before the stream starts, so bad input is a plain 422."""
    names = parse_event_types(types, known_event_names(services_of(request.app).consortium))
    resume = last_event_id or after
    start = parse_event_id(resume) if resume else head_position(session)
    stream = StreamRequest(Viewer(member.id, is_auditor(member)), start, names, limit)
    session.close()  # a stream lasts long: do not pin a pooled connection to it
    return stream


async def stream_slot(
    request: Request, stream: Annotated[StreamRequest, Depends(get_stream_request)]
) -> AsyncIterator[None]:
    """Hold one of the member's stream slots for as long as the stream is open."""
    streams = services_of(request.app).event_streams
    give_back = streams.slots.take(stream.viewer.member_id)
    try:
        yield
    finally:
        give_back()


def read_batch(
    sessions: sessionmaker[Session], viewer: Viewer, after: Position, types: frozenset[str]
) -> Batch:
    with sessions() as session:
        return visible_batch(session, viewer, after, types)


@router.get(
    "",
    response_class=EventSourceResponse,
    responses={200: {"model": EventPublic, "content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    stream: Annotated[StreamRequest, Depends(get_stream_request)],
    _slot: Annotated[None, Depends(stream_slot, scope="request")],
) -> AsyncIterator[ServerSentEvent]:
    """Stream the chain events the caller may see, in ledger order (text/event-stream).
    A member may hold a few streams at once (429 beyond them, with Retry-After)."""
    sessions = services_of(request.app).sessions
    head = services_of(request.app).event_streams.head
    viewer, position, limit = stream.viewer, stream.start, stream.limit
    sent = 0
    log.info(
        "event stream of member %d opened after %s", viewer.member_id, format_event_id(position)
    )
    try:
        while limit is None or sent < limit:
            indexed = await head.latest()  # read before the batch: nothing slips between
            try:
                batch = await anyio.to_thread.run_sync(
                    read_batch, sessions, viewer, position, stream.types
                )
            except StreamEnded:
                return  # the member was suspended meanwhile
            for payload in batch.payloads:
                if limit is not None and sent >= limit:
                    break
                yield ServerSentEvent(data=payload, id=payload["id"])
                sent += 1
            if batch.position == position:  # nothing new: idle until the indexer adds some
                await head.wait_past(indexed, timeout=IDLE_RECHECK_SECONDS)
            position = batch.position
    finally:
        log.info(
            "event stream of member %d closed after %d events, at %s",
            viewer.member_id,
            sent,
            format_event_id(position),
        )
