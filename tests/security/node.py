"""One development node per test module, and raw HTTP for requests no polite client
sends (bodies that never end, lengths that lie)."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

T = TypeVar("T")
WAIT = 60.0  # seconds any condition below may take


def wait_for(condition: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """The first truthy answer of ``condition``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition()
        except httpx.TransportError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.1)


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def chunked_post(
    url: str, path: str, chunk: bytes, max_bytes: int, headers: dict[str, str] | None = None
) -> tuple[int, Any, int]:
    """POST chunks of ``chunk`` (``Transfer-Encoding: chunked``, no length) until the server
    answers or ``max_bytes`` went out; the status, the JSON answer and the bytes sent."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=WAIT) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{_lines(headers)}"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        sent = 0
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while sent < max_bytes:
            answered, _, _ = select.select([sock], [], [], 0)
            if answered:
                break
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed
            sent += len(chunk)
        else:
            sock.sendall(b"0\r\n\r\n")
        status, body = _read_response(sock)
    return status, body, sent


def declared_post(
    url: str,
    path: str,
    length: int,
    headers: dict[str, str] | None = None,
    first: bytes = b"",
) -> tuple[int, Any]:
    """A POST declaring ``length`` bytes of body and sending only its ``first`` bytes:
    answered at once, or the server is waiting for a body it should never have wanted."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=WAIT) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{_lines(headers)}"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode() + first)
        return _read_response(sock)


def _lines(headers: dict[str, str] | None) -> str:
    return "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())


def _read_response(sock: socket.socket) -> tuple[int, Any]:
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        if not received:
            raise AssertionError(f"the server closed without an answer: {data!r}")
        data += received
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        received = sock.recv(65536)
        if not received:
            break
        body += received
    return status, json.loads(body) if body else None


def runtime(home: Path) -> dict[str, Any]:
    """What the node published in node.run.json (``scf-node status`` reads it)."""
    loaded: dict[str, Any] = json.loads((home / "node.run.json").read_text("utf-8"))
    return loaded


def process(health: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in health["processes"] if p["name"] == name)
    return found
