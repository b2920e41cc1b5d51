"""The bearer token of the node's JSON-RPC (decisions/0009).

The ledger's JSON-RPC reads every holder and amount of the consortium (``eth_call``,
``eth_getLogs``) past the REST API's per-object rights. Bound to a loopback address it is
reached only from this machine and needs no token; bound to any other address (a
wildcard, an interface, a name) every request must carry ``Authorization: Bearer
<token>``, the local ones included: from the server's side a local reverse proxy looks
like any local caller.

The token is ``rpc-token`` in the home (0600, 256 random bits), made by the first
``start`` that needs it and kept across restarts; delete it and restart to replace it.
The node's own clients (the API, the read replica, ``scf-node status`` and the other
commands) read it from the home and send it always, whatever the bind address.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from nodes.home import NodeHome

TOKEN_FILE = "rpc-token"


def needs_token(host: str) -> bool:
    """Whether a JSON-RPC bound to ``host`` is reachable beyond this machine."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: whatever it resolves to, it may not be loopback


def token_file(home: NodeHome) -> Path:
    return home.path / TOKEN_FILE


def read_token(home: NodeHome) -> str | None:
    """The home's JSON-RPC token, or None if it has none."""
    try:
        return token_file(home).read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


def ensure_token(home: NodeHome) -> str:
    """The home's JSON-RPC token, made (0600) if it has none."""
    found = read_token(home)
    if found is not None:
        return found
    token = secrets.token_urlsafe(32)
    path = token_file(home)
    draft = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(token + "\n")
    try:
        os.link(draft, path)  # whole or not at all, and never over another's token
    except FileExistsError:
        pass  # another process of the node made it meanwhile: that one counts
    finally:
        draft.unlink()
    return read_token(home) or token
