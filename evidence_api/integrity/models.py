"""Integrity incidents the store's checks record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class IntegrityIncident(Base):
    """A mismatch the store's integrity check (or a read) found: an object, a row, a
    manifest, a log entry or the tree is not what the log committed to.

    ``item`` names what is damaged (``evidence:<id>``, ``leaf:<index>``,
    ``entry:<id>``, ``checkpoint:<size>``); every check re-examines the items of
    open incidents, and closes an incident (``resolved_at``) once its item passes.
    """

    __tablename__ = "integrity_incident"
    __table_args__ = (Index("ix_integrity_incident_open", "resolved_at", "item"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime())
    item: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
