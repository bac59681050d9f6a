"""The audit log: logins, failures, lockouts, password and TOTP changes, users and tokens
created or revoked, and token use (once per token per hour)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.core.models import AuditEvent

#: The most events one page of :func:`list_events` returns.
MAX_PAGE = 500


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None else None


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
    """Add one event (flushed, not committed: it commits with what it records).

    Values are cut to their columns' sizes: a long user agent or detail never makes
    the action it records fail."""
    event = AuditEvent(
        at=at or datetime.now(UTC),
        kind=kind[:32],
        actor=_clip(actor, 64),
        subject=_clip(subject, 128),
        client=_clip(client, 64),
        detail=_clip(detail, 512),
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session,
    *,
    kind: str | None = None,
    subject: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Newest first; ``before_id`` pages back."""
    query = select(AuditEvent)
    if kind is not None:
        query = query.where(AuditEvent.kind == kind)
    if subject is not None:
        query = query.where(AuditEvent.subject == subject)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    query = query.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    return list(session.execute(query).scalars())
