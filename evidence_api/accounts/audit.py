"""The audit log: logins, failures, lockouts, password and TOTP changes, users and tokens
created or revoked, and token use (once per token per hour)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from evidence_api.core.models import AuditEvent


def record(
    session: Session,
    kind: str,
    *,
    actor: str | None,
    subject: str | None,
    client: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Add one event (flushed, not committed: it commits with what it records)."""
    raise NotImplementedError  # issue 15: accounts helper


def list_events(
    session: Session,
    *,
    kind: str | None = None,
    subject: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Newest first; ``before_id`` pages back."""
    raise NotImplementedError  # issue 15: accounts helper
