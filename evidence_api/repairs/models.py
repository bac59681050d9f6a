"""Credit repair applications (信用修复), their attachments and steps (tables of
``0024_repairs``; docs/credit-repair.md).

An application names one entity and what it asks to repair: a placement on the
serious-violator list (``sv-…``) and/or credit records (``cr-<n>``). The applicant's
access token is kept only as its SHA-256; the applicant's name and contact are for
officers only and never enter a log entry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base, OrderedChild

TZ = UtcDateTime()


class CreditRepair(Base):
    """One application, from ``applied`` to ``accepted`` or ``rejected`` (final)."""

    __tablename__ = "credit_repair"
    __table_args__ = (Index("ix_credit_repair_entity_id_seq", "entity_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: public id, ``rp-…``
    id: Mapped[str] = mapped_column(String(64), unique=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("trading_entity.id"))
    #: the placement to remove (``sv-…``), if any
    violation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    #: JSON array of the credit record refs (``cr-<n>``) asked to be repaired
    record_refs: Mapped[str] = mapped_column(Text)
    applicant_name: Mapped[str] = mapped_column(String(64))
    applicant_contact: Mapped[str] = mapped_column(String(128))
    #: 整改情况
    statement: Mapped[str] = mapped_column(Text)
    #: 信用承诺书 accepted (always true: an application without it is refused)
    pledge_accepted: Mapped[bool] = mapped_column(Boolean)
    #: SHA-256 (hex) of the access token shown once to the applicant
    token_sha256: Mapped[str] = mapped_column(String(64))
    #: ``applied`` | ``accepted`` | ``rejected``
    status: Mapped[str] = mapped_column(String(16), index=True)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(TZ)
    #: JSON array of the refs the ``repair_accepted`` record covers (set on acceptance)
    covers: Mapped[str | None] = mapped_column(Text)
    #: the ``repair_accepted`` credit record (``cr-<n>``), set on acceptance
    record_ref: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)

    attachments: Mapped[list[RepairAttachment]] = relationship(
        order_by="RepairAttachment.position", lazy="selectin"
    )


class RepairAttachment(OrderedChild, Base):
    """A file of the application (整改材料), fixed as evidence of its own."""

    __tablename__ = "credit_repair_attachment"

    repair_seq: Mapped[int] = mapped_column(ForeignKey("credit_repair.seq"), index=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"))
    name: Mapped[str] = mapped_column(String(255))


class RepairStep(Base):
    """One step of an application (``applied``, ``accepted``, ``rejected``) and its
    ``credit_repair`` log entry."""

    __tablename__ = "credit_repair_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    repair_seq: Mapped[int] = mapped_column(ForeignKey("credit_repair.seq"), index=True)
    step: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(TZ)
    entry_id: Mapped[str] = mapped_column(String(128), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
