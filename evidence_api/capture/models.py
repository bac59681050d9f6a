"""The durable record of a capture job (``capture``): what was asked, by whom, and
where it stands (queued → running → done | failed).

The row is committed before ``POST /v1/captures`` answers 202, so nothing
acknowledged is lost. A run claims it with a conditional UPDATE (``WHERE status =
'queued'``): of two workers handed the same capture, one runs it. A running row's
``heartbeat_at`` is refreshed while it runs, so a row whose process died is found
(:mod:`evidence_api.capture.service`) and retried once or failed, never left
``running``. The row becomes ``done`` in the same transaction as its evidence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATUSES = (QUEUED, RUNNING, DONE, FAILED)


class Capture(Base):
    """One capture job and, once done, the evidence it became."""

    __tablename__ = "capture"
    __table_args__ = (
        UniqueConstraint("submitter_token_id", "idempotency_key"),
        Index("ix_capture_status_created", "status", "created_at"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    #: the CaptureRequest as submitted (JSON)
    request: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048))
    mode: Mapped[str] = mapped_column(String(16))
    #: the case's number (案件编号), checked against the registry at submission
    case_ref: Mapped[str | None] = mapped_column(String(256), index=True)
    entity: Mapped[str | None] = mapped_column(String(256), index=True)
    platform: Mapped[str | None] = mapped_column(String(256), index=True)
    submitter_token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: refreshed while running; a stale one means the running process is gone
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: the process running it: ``host:pid:token``
    owner: Mapped[str | None] = mapped_column(String(160))
    #: runs started (a run interrupted by a dead process is retried once)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: the current step while running, e.g. "2/5 click #search"
    step: Mapped[str | None] = mapped_column(String(256))
    evidence_id: Mapped[str | None] = mapped_column(ForeignKey("evidence.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(String(1024))
    #: the limit that ended a failed capture, if one did
    limit_name: Mapped[str | None] = mapped_column(String(64))
