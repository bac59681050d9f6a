"""The accounts API (admin): users and the audit log. The console's admin pages call the
same service functions."""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(prefix="/v1", tags=["accounts"], route_class=GuardedRoute)
