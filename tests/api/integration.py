"""Shared pieces of the integration tests (SSE, webhooks): a real server, SSE parsing."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.services.event_feed import format_event_id, head_position
from tests.api.conftest import ApiWorld


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait for ``condition`` (polled), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free local port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def head_id(api_world: ApiWorld) -> str:
    """The id of the newest indexed event: 'after' it come the test's own events."""
    api_world.sync()
    with api_world.sessions() as session:
        return format_event_id(head_position(session))


@dataclass
class SseMessage:
    id: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads("\n".join(self.data))


def parse_sse(lines: Iterable[str]) -> Iterator[SseMessage]:
    """Messages of a text/event-stream, per the HTML spec's field rules (subset we use)."""
    message = SseMessage()
    for line in lines:
        if line == "":
            if message.data or message.comments or message.id is not None:
                yield message
            message = SseMessage()
        elif line.startswith(":"):
            message.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                message.data.append(value)
            elif name == "id":
                message.id = value
