"""Regrading (filled in by the feature): an entity's grade from its records and the
active policy (:mod:`verifier.credit`); a change is a ``credit_grade_change`` row and a
``credit-grade`` log entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from evidence_api.core.ledger import SignReceipt


def regrade(
    session: Session, sign_receipt: SignReceipt, entity_id: int, *, at: datetime, cause: str
) -> str | None:
    """Recompute ``entity_id``'s grade at ``at``; returns the new grade if it changed."""
    del session, sign_receipt, entity_id, at, cause
    return None


def regrade_due(runtime: Any) -> int:
    """Regrade every entity whose ``next_change_at`` has come; returns how many changed."""
    del runtime
    return 0


def regrade_all(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    at: datetime,
    cause: str = "policy",
    batch: int = 1000,
    progress: Any = None,
) -> int:
    """Regrade every entity with the active policy (after a policy change); returns how many
    grades changed. ``progress(done)`` is called after each batch."""
    del session, sign_receipt, at, cause, batch, progress
    return 0
