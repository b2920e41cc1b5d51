"""The consortium PKI's public documents: the root CA certificate and the current CRL.

Both are public by nature (relying parties need them before they can authenticate), so
these routes take no credentials. The CRL is DER (``application/pkix-crl``, RFC 2585) by
default, as CRL distribution points serve it; ``?format=pem`` gives PEM.
"""

from __future__ import annotations

from typing import Annotated, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Query, Request, Response

from api.errors import ErrorResponse
from api.services.container import services_of
from api.services.pki_protocol import CertificateAuthority
from chain.errors import ScfError

router = APIRouter(prefix="/v1/pki", tags=["pki"], responses={404: {"model": ErrorResponse}})

PEM_CERTIFICATE = "application/x-pem-file"
DER_CRL = "application/pkix-crl"


class PkiNotConfigured(ScfError):
    """A node without a consortium CA (e.g. an API node over an external ledger) has
    nothing to publish here: not found, not a server fault."""

    code = "pki_not_configured"
    http_status = 404


def _authority(request: Request) -> CertificateAuthority:
    authority = services_of(request.app).certificate_authority
    if authority is None:
        raise PkiNotConfigured("this API node has no consortium certificate authority")
    return authority


@router.get(
    "/ca",
    response_class=Response,
    responses={200: {"content": {PEM_CERTIFICATE: {}}, "description": "the root CA, PEM"}},
)
def read_ca_certificate(request: Request) -> Response:
    """The consortium's root CA certificate (PEM): trust anchor for node and member
    certificates."""
    return Response(_authority(request).ca_certificate_pem(), media_type=PEM_CERTIFICATE)


@router.get(
    "/crl",
    response_class=Response,
    responses={
        200: {
            "content": {DER_CRL: {}, PEM_CERTIFICATE: {}},
            "description": "the current CRL, signed by the root CA",
        }
    },
)
def read_crl(
    request: Request,
    format: Annotated[Literal["der", "pem"], Query(description="der (default) or pem")] = "der",
) -> Response:
    """Member certificates revoked by chain state: suspended members (certificateHold) and
    certificates replaced on chain (superseded). Rebuilt when the ledger moves."""
    der = _authority(request).crl_der()
    if format == "pem":
        pem = x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM)
        return Response(pem, media_type=PEM_CERTIFICATE)
    return Response(der, media_type=DER_CRL)
