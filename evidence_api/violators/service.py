"""The list's service (filled in by the feature). Other features call the functions below."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from evidence_api.core.ledger import SignReceipt
from evidence_api.violators.models import SeriousViolation


def active_listing(session: Session, entity_id: int) -> SeriousViolation | None:
    """The entity's current placement (status ``listed``), if any."""
    raise NotImplementedError


def remove_for_repair(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    violation_id: str,
    repair_id: str,
    actor: str,
    at: datetime,
) -> SeriousViolation:
    """Remove a placement because credit repair ``repair_id`` was accepted: status
    ``removed``, a feed change, a ``serious_removed`` credit record, in the caller's
    transaction. The caller commits and nudges the sealer."""
    raise NotImplementedError
