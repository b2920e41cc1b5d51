"""What the idempotency middleware (``api.idempotency.middleware``) reads from a POST: whose it is
(the member the route will see, or nobody on an ``AnonymousPost``), its Idempotency-Key,
``?wait`` and a fingerprint of the request."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.types import Scope

from api.idempotency.encrypted_answers import MIN_KEY_LENGTH, lookup_key
from api.services.container import services_of
from chain.errors import ScfError

KEY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128  # the operations table's column
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class InvalidRequest(ScfError):
    code = "validation_error"
    http_status = 422


@dataclass(frozen=True)
class AnonymousPost:
    """A POST that needs no credentials and whose answer may carry a secret."""

    path: str
    # runs on every request to ``path`` the middleware looks at, before anything else (a
    # rate limit: replays count too); raises ScfError to refuse
    admit: Callable[[Request], None]


@dataclass(frozen=True)
class KeptPost:
    """What the middleware needs to know about one POST it keeps."""

    member_id: int | None  # None: an anonymous POST, its key scoped to the key itself
    key: str | None  # as the client sent it
    wait: bool
    fingerprint: str
    path: str
    secret_answer: bool = False  # a member's answer carries a secret: kept sealed

    @property
    def sealed(self) -> bool:
        return self.member_id is None

    @property
    def stored_key(self) -> str | None:
        """The key as the operations table holds it: an anonymous one only as a hash."""
        return lookup_key(self.key) if self.sealed and self.key is not None else self.key

    @property
    def slot(self) -> tuple[int | None, str]:
        """Whose key it is: the table's unique pair."""
        assert self.key is not None
        return self.member_id, self.stored_key or self.key


def describe(
    scope: Scope,
    body: bytes,
    anonymous: Mapping[str, AnonymousPost],
    secret_answers: frozenset[str] = frozenset(),
) -> KeptPost | None:
    """The POST as the middleware sees it, or None when there is nothing to keep (no
    member, or neither a key nor wait=false). Runs in a worker thread."""
    if not _has_key(scope) and not any(k == "wait" for k, _ in _query(scope)):
        return None
    post = anonymous.get(scope["path"])
    if post is not None:
        return _describe_anonymous(scope, body, post)
    member_id = _member_id(scope)
    if member_id is None:
        return None
    key = _idempotency_key(scope)
    wait = _wait(scope)
    if key is None and wait:
        return None
    path = scope["path"]
    return KeptPost(member_id, key, wait, _fingerprint(scope, body), path, path in secret_answers)


def _describe_anonymous(scope: Scope, body: bytes, post: AnonymousPost) -> KeptPost | None:
    """An anonymous POST: its key scoped to itself, whatever credentials come with it."""
    post.admit(Request(scope))  # first: a refused or replayed request counts too
    key = _idempotency_key(scope)
    if not _wait(scope):
        raise InvalidRequest(
            f"wait=false is not available on POST {post.path}: it needs no member, and only "
            "a member can follow an operation at /v1/operations/{id}; leave wait out",
            details={"errors": [{"location": "query.wait", "problem": "not supported here"}]},
        )
    if key is None:
        return None
    if len(key) < MIN_KEY_LENGTH:
        raise InvalidRequest(
            f"{KEY_HEADER} on POST {post.path} guards a secret the answer carries: it must "
            f"have at least {MIN_KEY_LENGTH} characters (a random UUID has 36)",
            details={"errors": [{"location": "header.Idempotency-Key", "problem": "too short"}]},
        )
    return KeptPost(None, key, True, _fingerprint(scope, body), scope["path"])


def _member_id(scope: Scope) -> int | None:
    """The member the route will see (``api.authentication``); None where the route gives
    its own 401/403 (the refusal is kept: the route does not look again). A write with a
    body was authenticated already (``api.body_limits.CredentialsFirst``)."""
    authenticator = services_of(scope["app"]).authenticator
    try:
        known = authenticator.known(scope)
        if known is None and not authenticator.has_credentials(scope):
            return None  # no credentials at all: no session to open
        member = known or authenticator.authenticate(scope)
    except ScfError:
        return None
    return member.id


def _header(scope: Scope, name: str) -> str:
    wanted = name.lower().encode("latin-1")
    values = [v for k, v in scope["headers"] if k.lower() == wanted]
    return values[-1].decode("latin-1") if values else ""


def _has_key(scope: Scope) -> bool:
    return any(k.lower() == b"idempotency-key" for k, _ in scope["headers"])


def _idempotency_key(scope: Scope) -> str | None:
    if not _has_key(scope):
        return None
    key = _header(scope, KEY_HEADER)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidRequest(
            f"{KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            details={"errors": [{"location": "header.Idempotency-Key", "problem": "invalid"}]},
        )
    return key


def _query(scope: Scope) -> list[tuple[str, str]]:
    return parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)


def _wait(scope: Scope) -> bool:
    values = [v for k, v in _query(scope) if k == "wait"]
    if not values:
        return True
    value = values[-1].strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InvalidRequest(
        "wait must be true or false",
        details={"errors": [{"location": "query.wait", "problem": f"not a boolean: {value!r}"}]},
    )


def strip_wait(scope: Scope) -> None:
    """The request as the routes see it: ``wait`` is the middleware's parameter."""
    query = [(k, v) for k, v in _query(scope) if k != "wait"]
    scope["query_string"] = urlencode(query).encode("latin-1")


def _fingerprint(scope: Scope, body: bytes) -> str:
    """Method, path, query (without ``wait``) and body; a JSON body in canonical form, so
    that key order and spacing do not make two equal requests different."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:  # not JSON (or empty): the bytes themselves
        canonical = body
    query = sorted((k, v) for k, v in _query(scope) if k != "wait")
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], urlencode(query)):
        digest.update(part.encode() + b"\0")
    digest.update(canonical)
    return digest.hexdigest()
