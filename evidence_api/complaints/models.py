"""Complaints and reports (投诉举报; tables of ``0026_complaints``).

:class:`Complaint` is fixed here (statistics and ODR read it); attachments and the
rest are the feature's (docs/complaints.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class Complaint(Base):
    """One complaint (投诉, the consumer's own dispute) or report (举报, a violation)."""

    __tablename__ = "complaint"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: public id, ``cp-…``
    id: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``complaint`` (投诉) or ``report`` (举报)
    kind: Mapped[str] = mapped_column(String(16))
    #: a code of the category list (商品质量, 虚假宣传, 价格, …; docs/complaints.md)
    category: Mapped[str] = mapped_column(String(32), index=True)
    #: ``received`` → ``clue`` | ``odr`` | ``rejected``; then ``resolved``
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: substantiated (查实) or not, once resolved; None: not (yet) decided
    substantiated: Mapped[bool | None] = mapped_column(Boolean)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    target_url: Mapped[str | None] = mapped_column(String(2048))
    target_name: Mapped[str | None] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the normalised text (identical-text heuristic)
    text_sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: keyed hash of the complainant's normalised contact (volume heuristic); no plain id
    complainant_key: Mapped[str] = mapped_column(String(64), index=True)
    #: flagged as a likely professional complainant (职业索赔), for review only
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    #: JSON array of the heuristics that fired, each with its figures
    flag_reasons: Mapped[str] = mapped_column(Text, default="[]")
    triage_reason: Mapped[str | None] = mapped_column(Text)
    clue_id: Mapped[str | None] = mapped_column(String(64))
    odr_id: Mapped[str | None] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    triaged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
