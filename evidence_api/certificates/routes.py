"""``GET /v1/evidence/{id}/certificate`` (the signed 存证证书 PDF) and
``GET /v1/trust/certificate-ca`` (the PEM of the certificates that verify them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from evidence_api.certificates import service
from evidence_api.certificates.issuing import issuer_of, signing_material
from evidence_api.core.deps import Reader, RuntimeDep
from evidence_api.core.guard import GuardedRoute
from evidence_api.core.schemas import problem_responses

router = APIRouter(tags=["certificates 存证证书"], route_class=GuardedRoute)

EvidenceId = Annotated[str, Path(pattern=r"^ev-[0-9a-f]{28}$", description="evidence id")]
PEM_CHAIN = "application/pem-certificate-chain"  # RFC 8555 §9.1
#: The PDF is never active content on our origin (as evidence downloads).
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}


@router.get(
    "/v1/evidence/{evidence_id}/certificate",
    response_class=Response,
    responses={
        **problem_responses(401, 403, 404, 409, 422, 503),
        200: {
            "description": "the signed 存证证书 (PDF, PAdES B-B; docs/certificates.md)",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
    },
    summary="Evidence certificate, signed PDF (存证证书)",
)
def get_certificate(evidence_id: EvidenceId, runtime: RuntimeDep, _: Reader) -> Response:
    """The evidence item's 存证证书: a PDF stating its files' SHA-256 and SM3, its manifest's
    digests, its leaf hash and the log, signed with PAdES and carrying the same facts as an
    embedded JSON statement. Issued on the first request if the background job has not yet
    done so; the stored bytes are checked against their recorded SHA-256 before they are
    served (409 if they differ). Verify it with ``evidence-verify --certificate cert.pdf
    --certificate-ca ca.pem bundle.json``. Officers, admins and appraisers."""
    issuer = issuer_of(runtime)
    record = service.issue(issuer, evidence_id)
    pdf = service.read(issuer, record)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            **DOWNLOAD_HEADERS,
            "Content-Disposition": f"attachment; filename={evidence_id}-certificate.pdf",
            "X-Content-SHA256": bytes(record.sha256).hex(),
        },
    )


@router.get(
    "/v1/trust/certificate-ca",
    response_class=Response,
    responses={
        **problem_responses(503),
        200: {
            "description": "PEM certificates (RFC 7468), one or more",
            "content": {PEM_CHAIN: {"schema": {"type": "string"}}},
        },
    },
    summary="Certificates verifying the 存证证书 (签发证书链)",
)
def get_certificate_ca(runtime: RuntimeDep) -> Response:
    """The PEM certificates a verifier trusts to check 存证证书 signatures (the chain above
    the signing certificate; the development CA in embedded mode). Public, but obtain it out
    of band for a real check, as the log key: a verifier never trusts what it was handed by
    the party it checks."""
    material = signing_material(runtime.settings)
    if material is None:
        raise service.NoSigningCertificateError(
            "no usable certificate signs 存证证书 here: configure "
            "EVIDENCE_CERTIFICATE_CERT_FILE and EVIDENCE_CERTIFICATE_KEY_FILE (see the log)"
        )
    return Response(material.ca_pem, media_type=PEM_CHAIN)
