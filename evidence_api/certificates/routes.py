"""``GET /v1/evidence/{id}/certificate`` (the signed 存证证书 PDF) and
``GET /v1/trust/certificate-ca`` (the PEM of the certificate that signs them).
(Contract stub: filled in by the certificate work.)"""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(tags=["certificates 存证证书"], route_class=GuardedRoute)
