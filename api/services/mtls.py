"""Mutual TLS for the REST API: client certificates from the consortium CA authenticate members.

The server asks for a client certificate but does not require one (API keys keep working).
OpenSSL checks a presented certificate during the handshake against the consortium CA
(chain and validity: a certificate from another CA or an expired one never gets a
connection). The application then checks the rest through the app's ``certificate_authority``:
not revoked, and its fingerprint is the one recorded on chain for an active member.

uvicorn (0.54) does not yet put the peer certificate in the ASGI scope (uvicorn issue #745,
pull requests #1119, #3043, #3132 unmerged). ``TlsH11Protocol`` fills in the standard ASGI
TLS extension, ``scope["extensions"]["tls"]`` (asgiref "TLS Extension" 0.2), from the
connection's ``ssl_object``, once per connection, so the application only reads the
standard field and this subclass can go once uvicorn ships the extension. Behind a
TLS-terminating proxy the extension is absent and only API keys authenticate.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import Request
from sqlalchemy.orm import Session
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.readmodel.models import MemberRow
from api.services.api_keys import AuthenticationError, require_status
from api.services.container import services_of
from api.services.pki_protocol import CertificateRejected

# TLS version numbers as the ASGI TLS extension gives them (the protocol's wire values).
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

ASGIApp = Any  # uvicorn's ASGI3 callable


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """``scope["extensions"]["tls"]`` for a connection, per the ASGI TLS extension."""
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        certificate = x509.load_der_x509_certificate(der)
        chain = [certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")]
        name = certificate.subject.rfc4514_string()
    return {
        "server_cert": None,  # the ssl module cannot read back the server's own certificate
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,  # a failed verification never reaches the application
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # the ssl module names the suite but does not give its number
    }


def with_tls_extension(app: ASGIApp, tls: dict[str, Any]) -> ASGIApp:
    async def app_with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
        await app(scope, receive, send)

    return app_with_tls


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that gives the application the ASGI TLS extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # the spec: no extension on plain connections
            self.app = with_tls_extension(self.app, tls_extension(ssl_object))


def uvicorn_tls_options(
    certificate: Path, key: Path, key_password: str, client_ca: Path
) -> dict[str, Any]:
    """``uvicorn.Config`` options for HTTPS with optional client certificates from
    ``client_ca``."""
    return {
        "ssl_certfile": str(certificate),
        "ssl_keyfile": str(key),
        "ssl_keyfile_password": key_password,
        "ssl_ca_certs": str(client_ca),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": TlsH11Protocol,
    }


def presented_certificate(request: Request) -> bytes | None:
    """The DER of the client certificate of this request's connection, if any."""
    extensions = request.scope.get("extensions") or {}
    chain = (extensions.get("tls") or {}).get("client_cert_chain") or []
    if not chain:
        return None
    certificate = x509.load_pem_x509_certificate(chain[0].encode("ascii"))
    return certificate.public_bytes(serialization.Encoding.DER)


def member_by_certificate(
    request: Request, session: Session, *, allow_suspended: bool = False
) -> MemberRow | None:
    """The member the connection's client certificate authenticates; None without one.

    A presented certificate must authenticate: any failure is 401, never a fallback."""
    der = presented_certificate(request)
    if der is None:
        return None
    authority = services_of(request.app).certificate_authority
    if authority is None:
        raise CertificateRejected("this API node has no consortium CA to check certificates")
    member_id = authority.authenticate_client_certificate(der)
    member = session.get(MemberRow, member_id)
    if member is None:
        raise AuthenticationError(
            f"member {member_id} is not in this node's read model yet; retry shortly",
            details={"member_id": member_id},
        )
    require_status(member, allow_suspended=allow_suspended)
    return member
