"""ODR's service (filled in by the feature). Complaint triage calls :func:`open_mediation`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from evidence_api.complaints.models import Complaint
from evidence_api.core.ledger import SignReceipt
from evidence_api.odr.models import OdrCase


def open_mediation(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    complaint: Complaint,
    actor: str,
    at: datetime,
    days: int,
) -> OdrCase:
    """Open a mediation for ``complaint`` (deadline ``at`` + ``days``) with its log entry,
    in the caller's transaction. The caller sets the complaint's ``odr_id``, commits and
    nudges the sealer."""
    raise NotImplementedError
