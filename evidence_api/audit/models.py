"""Audit runs and what they found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class AuditRun(Base):
    """One ``evidence audit`` run. ``status``: ``running``, ``clean``, ``failed`` (it
    found discrepancies), ``interrupted`` (stopped before the end: ``--resume`` goes on
    from ``cursor``). A ``failed`` run keeps ``/readyz`` not ready until an operator
    acknowledges it (``acknowledged_at``/``acknowledged_by``)."""

    __tablename__ = "audit_run"
    __table_args__ = (Index("ix_audit_run_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16))
    #: where a resumed run goes on (JSON: the phase and the position in it)
    cursor: Mapped[str | None] = mapped_column(Text)
    #: what was checked so far (JSON: counts per phase)
    counts: Mapped[str | None] = mapped_column(Text)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(160))
    acknowledge_note: Mapped[str | None] = mapped_column(Text)


class AuditFinding(Base):
    """One discrepancy: ``kind`` (``entry``, ``node``, ``checkpoint``, ``object``,
    ``manifest``, ``anchor``, ``cosignature``, ``timestamp``), ``location`` (e.g.
    ``entry:ev-…``, ``leaf:17``, ``node:3/5``, ``checkpoint:120``, ``object:<key>``,
    ``anchor:<size>``) and what differs."""

    __tablename__ = "audit_finding"
    __table_args__ = (Index("ix_audit_finding_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("audit_run.id"))
    kind: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime())
