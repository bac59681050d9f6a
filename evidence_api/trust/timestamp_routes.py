"""``GET /v1/trust/timestamps``: the configured RFC 3161 authorities with the newest
checkpoint each has stamped (admin, officer). (Contract stub: filled in by the
timestamp work.)"""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(prefix="/v1/trust", tags=["trust 信任"], route_class=GuardedRoute)
