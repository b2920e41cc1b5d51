"""What the API needs from the consortium's certificate authority, as a small protocol.

The node (``nodes/pki/ca.py``) implements it and gives it to ``api.app.create_app``;
the API never imports the node. A member certificate's SHA-256 fingerprint (of its DER) is
the value recorded on chain by ``MemberRegistry.admitMember`` / ``setCertificateFingerprint``.
"""

from __future__ import annotations

from typing import Protocol

from chain.errors import ScfError


class CertificateRejected(ScfError):
    """A presented client certificate does not authenticate anyone."""

    code = "certificate_rejected"
    http_status = 401


class IssuedCertificate(Protocol):
    @property
    def pem(self) -> bytes:
        """The certificate, PEM."""
        ...

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the certificate's DER: 32 bytes, the on-chain value."""
        ...


class CertificateAuthority(Protocol):
    def ca_certificate_pem(self) -> bytes:
        """The consortium root CA certificate, PEM."""
        ...

    def crl_der(self) -> bytes:
        """The current certificate revocation list, DER, signed by the CA."""
        ...

    def issue_member_certificate(
        self, name: str, credit_code: str, account: str
    ) -> IssuedCertificate:
        """A client certificate for a company binding its on-chain ``account``."""
        ...

    def authenticate_client_certificate(self, der: bytes) -> int:
        """The id of the active member this certificate authenticates; raises
        ``CertificateRejected`` when it authenticates no one."""
        ...
