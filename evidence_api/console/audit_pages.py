"""Administrator pages ``/console/admin/audits``: audit runs with their findings, and the
acknowledgement of a failed run (which makes ``/readyz`` ready again).
(Contract stub: filled in by the audit work.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console/admin/audits", include_in_schema=False)
