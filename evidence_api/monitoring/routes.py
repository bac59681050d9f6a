"""``/v1/monitors``: what officers watch (监测任务), and their runs."""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(prefix="/v1", tags=["monitors 监测"], route_class=GuardedRoute)
