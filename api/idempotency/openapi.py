"""``wait`` and ``Idempotency-Key`` in /openapi.json: the parameters and answers the
idempotency middleware (``api.idempotency.middleware``) adds to every POST, documented where
FastAPI cannot see them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from api.idempotency.encrypted_answers import MIN_KEY_LENGTH
from api.idempotency.posts import KEY_HEADER, MAX_KEY_LENGTH, AnonymousPost
from api.schemas.operations import OperationAccepted

_WAIT_PARAMETER = {
    "name": "wait",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": True},
    "description": "false: answer 202 at once with an operation id and run the write in the "
    "background; follow it at /v1/operations/{id}",
}
_KEY_PARAMETER = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "the same key with the same request returns the stored response, once; "
    "with a different request, 422 idempotency_key_reused",
}
_ANONYMOUS_KEY_PARAMETER = _KEY_PARAMETER | {
    "schema": {"type": "string", "minLength": MIN_KEY_LENGTH, "maxLength": MAX_KEY_LENGTH},
    "description": "the same key with the same request returns the stored response, once; "
    "with a different request, 422 idempotency_key_reused. The answer carries a secret, kept "
    f"sealed under this key: use an unguessable key of at least {MIN_KEY_LENGTH} characters, "
    "such as a random UUID",
}


def document_in_openapi(app: FastAPI, anonymous: Iterable[AnonymousPost] = ()) -> None:
    """Add ``wait`` and ``Idempotency-Key`` to every authenticated POST in /openapi.json,
    with the 202 answer and the 409 of a duplicate still running; ``Idempotency-Key``
    alone to the anonymous POSTs."""
    build = app.openapi
    anonymous_paths = {post.path for post in anonymous}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, item in schema.get("paths", {}).items():
            operation = item.get("post")
            if operation is not None and path in anonymous_paths:
                _add_parameters(operation, _ANONYMOUS_KEY_PARAMETER)
                continue
            if operation is None or not operation.get("security"):
                continue
            _add_parameters(operation, _WAIT_PARAMETER, _KEY_PARAMETER)
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "202",
                {
                    "description": "accepted (wait=false): the write runs in the background",
                    "content": {
                        "application/json": {"schema": OperationAccepted.model_json_schema()}
                    },
                },
            )
            responses.setdefault(
                "409",
                {
                    "description": "conflict (a duplicate of a request still running)",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                        }
                    },
                },
            )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_parameters(operation: dict[str, Any], *added: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    present = {(p.get("in"), str(p.get("name", "")).lower()) for p in parameters}
    for parameter in added:
        if (parameter["in"], str(parameter["name"]).lower()) not in present:
            parameters.append(dict(parameter))
