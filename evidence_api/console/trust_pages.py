"""Administrator page ``/console/admin/trust``: the witnesses (each one's newest cosigned
checkpoint, last error) and the time-stamping authorities (newest stamped checkpoint, its
TSA time beside the block time), and the certificate that signs 存证证书 (development CA
or configured). (Contract stub: filled in by the witness work.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/console/admin/trust", include_in_schema=False)
