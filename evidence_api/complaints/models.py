"""Complaints and reports (投诉举报; tables of ``0026_complaints``).

:class:`Complaint` is fixed here (statistics and ODR read it); attachments and the
rest are the feature's (docs/complaints.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
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


class ComplaintContact(Base):
    """The complainant as they gave themselves (officers only; never in a log entry or a
    public answer)."""

    __tablename__ = "complaint_contact"

    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaint.seq"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    contact: Mapped[str] = mapped_column(String(128))


class ComplaintAccess(Base):
    """The complaint's access token (shown once to the complainant), stored as SHA-256."""

    __tablename__ = "complaint_access"

    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaint.seq"), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))


class ComplaintAttachment(Base):
    """An attachment of a complaint, fixed as evidence (``ev-…``) at intake."""

    __tablename__ = "complaint_attachment"

    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaint.seq"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"), index=True)


class ComplaintStep(Base):
    """One step of a complaint (received, triaged, resolved) and its log entry."""

    __tablename__ = "complaint_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complaint_seq: Mapped[int] = mapped_column(ForeignKey("complaint.seq"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class PublicSubmission(Base):
    """One accepted public submission (complaint, repair application) of a client, counted
    by the public intake's rate limit (:mod:`evidence_api.intake.public`)."""

    __tablename__ = "public_submission"
    __table_args__ = (Index("ix_public_submission_client_key_at", "client_key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: keyed hash of the client's address
    client_key: Mapped[str] = mapped_column(String(64))
    #: ``complaint`` or ``repair``
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
