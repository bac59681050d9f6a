"""Clues, their transfers, assistance requests (协查) and every step's log entry
(tables of ``0018_clues``; docs/clues.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base, OrderedChild

TZ = UtcDateTime()


class Clue(Base):
    """A clue (线索): what was found about one trading entity, held by one unit."""

    __tablename__ = "clue"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)  # clu-…
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[int] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"))
    alert_id: Mapped[str | None] = mapped_column(String(64))
    #: The holding unit (its jurisdiction; None: the top, for a creator without a unit);
    #: moves to the receiver when a transfer is accepted.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: ``held`` | ``pending`` | ``returned`` | ``accepted`` (docs/clues.md §2)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(64))  # pseudonym
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)

    evidence: Mapped[list[ClueEvidence]] = relationship(
        order_by="ClueEvidence.position", lazy="selectin"
    )


class ClueEvidence(OrderedChild, Base):
    """Evidence a clue carries, in the order given."""

    __tablename__ = "clue_evidence"

    clue_seq: Mapped[int] = mapped_column(ForeignKey("clue.seq"), index=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"))


class ClueTransfer(Base):
    """One sending of a clue to another unit (线索转办), answered by accept or return."""

    __tablename__ = "clue_transfer"
    __table_args__ = (Index("ix_clue_transfer_status_deadline", "status", "deadline"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)  # ctr-…
    clue_seq: Mapped[int] = mapped_column(ForeignKey("clue.seq"), index=True)
    from_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    deadline: Mapped[datetime] = mapped_column(TZ)
    #: ``pending`` | ``accepted`` | ``returned``
    status: Mapped[str] = mapped_column(String(16))
    overdue: Mapped[bool] = mapped_column(Boolean)
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(TZ)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(TZ)
    #: the receiver's reason for a return (or its note on an acceptance)
    answer: Mapped[str | None] = mapped_column(Text)


class Assist(Base):
    """An assistance request (协查) to another unit or to a platform (政企协作)."""

    __tablename__ = "assist"
    __table_args__ = (Index("ix_assist_status_deadline", "status", "deadline"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)  # ast-…
    clue_seq: Mapped[int | None] = mapped_column(ForeignKey("clue.seq"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    from_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    to_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    to_platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), index=True)
    topics: Mapped[str] = mapped_column(String(256))  # JSON array of topic codes
    questions: Mapped[str] = mapped_column(Text)
    deadline: Mapped[datetime] = mapped_column(TZ)
    #: ``open`` | ``replied`` | ``closed``
    status: Mapped[str] = mapped_column(String(16))
    overdue: Mapped[bool] = mapped_column(Boolean)
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)


class AssistReply(Base):
    """One reply to an assistance request: its text and the evidence its files became."""

    __tablename__ = "assist_reply"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    assist_seq: Mapped[int] = mapped_column(ForeignKey("assist.seq"), index=True)
    text: Mapped[str] = mapped_column(Text)
    evidence_ids: Mapped[str] = mapped_column(Text)  # JSON array of evidence ids
    replied_by: Mapped[str] = mapped_column(String(64))
    replied_at: Mapped[datetime] = mapped_column(TZ)


class SupervisionStep(Base):
    """One step of a clue or an assistance request and the log entry recording it."""

    __tablename__ = "clue_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    clue_seq: Mapped[int | None] = mapped_column(ForeignKey("clue.seq"), index=True)
    assist_seq: Mapped[int | None] = mapped_column(ForeignKey("assist.seq"), index=True)
    transfer_seq: Mapped[int | None] = mapped_column(ForeignKey("clue_transfer.seq"))
    step: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(TZ)
    entry_id: Mapped[str] = mapped_column(String(128), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
