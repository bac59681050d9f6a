"""Audit runs over HTTP (admin): ``GET /v1/integrity/audits``, one run with its findings,
and ``POST /v1/integrity/audits/{id}/acknowledge``. (Contract stub: filled in by the
audit work.)"""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(prefix="/v1/integrity/audits", tags=["audit 审计"], route_class=GuardedRoute)
