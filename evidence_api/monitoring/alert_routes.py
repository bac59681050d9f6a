"""``/v1/alerts`` (预警: list, triage, the event stream) and ``/v1/stats/monitoring``."""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(prefix="/v1", tags=["alerts 预警"], route_class=GuardedRoute)
