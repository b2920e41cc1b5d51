"""Shared pieces of the webhook tests: local receivers, registering through the API, and
the operator's allow-list for local targets (receivers here listen on loopback)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from fastapi import FastAPI

from api.services.webhooks import WebhookDispatcher
from api.settings import Settings, get_settings
from tests.api.conftest import ApiWorld

LOOPBACK = "127.0.0.0/8"  # what the tests' operator allows: their receivers are local


@contextmanager
def allowing(app: FastAPI, networks: str, **settings: Any) -> Iterator[None]:
    """The API with ``SCF_WEBHOOK_ALLOWED_NETWORKS=networks`` (and ``settings``), restored
    afterwards."""
    overrides = app.dependency_overrides
    before = overrides.get(get_settings)
    overrides[get_settings] = lambda: Settings(webhook_allowed_networks=networks, **settings)
    try:
        yield
    finally:
        if before is None:
            overrides.pop(get_settings, None)
        else:
            overrides[get_settings] = before


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server that records each POST and answers the next scripted status."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        port = httpx.URL(self.url).port
        assert port is not None
        return port


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/scf"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Silent:
    """A receiver that accepts connections and never answers, until ``release``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self._lock:
                self._held.append(connection)

    @property
    def connections(self) -> int:
        """How many connections it has accepted so far."""
        with self._lock:
            return len(self._held)

    def release(self) -> None:
        """Close everything: the waiting clients see the connection end."""
        self._listener.close()
        with self._lock:
            for connection in self._held:
                connection.close()


@dataclass
class Hooks:
    """Registers webhooks through the API and drives the dispatcher with explicit times."""

    api_world: ApiWorld
    dispatcher: WebhookDispatcher
    created: list[tuple[str, int]] = field(default_factory=list)

    def settle(self) -> int:
        """Index, fan out and deliver everything so far: later webhooks start from here."""
        self.api_world.sync()
        now = int(time.time())
        self.dispatcher.dispatch_once(now)
        return now

    def create(self, who: str, url: str, event_types: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url}
        if event_types is not None:
            body["event_types"] = event_types
        answer = self.post(who, body)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        self.created.append((who, created["id"]))
        return created

    def post(self, who: str, body: Any) -> httpx.Response:
        client = self.api_world.client
        answer: httpx.Response = client.post("/v1/webhooks", json=body, headers=self.auth(who))
        return answer

    def listed(self, who: str) -> list[dict[str, Any]]:
        client = self.api_world.client
        answer = client.get("/v1/webhooks", params={"limit": 500}, headers=self.auth(who))
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def deliveries(self, who: str, hook_id: int) -> httpx.Response:
        path = f"/v1/webhooks/{hook_id}/deliveries"
        answer: httpx.Response = self.api_world.client.get(path, headers=self.auth(who))
        return answer

    def delete(self, who: str, hook_id: int) -> httpx.Response:
        path = f"/v1/webhooks/{hook_id}"
        answer: httpx.Response = self.api_world.client.delete(path, headers=self.auth(who))
        return answer

    def auth(self, who: str) -> dict[str, str]:
        return self.api_world.auth(who)

    def clean_up(self) -> None:
        """Delete what the test registered, so no later test delivers to it."""
        for who, hook_id in self.created:
            self.delete(who, hook_id)
        self.created.clear()
