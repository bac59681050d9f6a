"""The C2SP ``tlog-tiles`` read API under ``/tlog/``: ``checkpoint``, ``tile/<L>/<N>[.p/<W>]``
and ``tile/entries/<N>[.p/<W>]``; public, cacheable. (Contract stub: filled in by the
tiles work.)"""

from __future__ import annotations

from fastapi import APIRouter

from evidence_api.core.guard import GuardedRoute

router = APIRouter(prefix="/tlog", tags=["tiles 瓦片"], route_class=GuardedRoute)
