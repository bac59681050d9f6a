"""Credit records, grading policies, current grades and grade changes (tables of
``0022_credit``; docs/credit.md).

A record is written once, in the transaction of the fact it records (a case closing, a
takedown completing, a spot-check result, a substantiated complaint, a listing or a
repair), with its own log entry; ``(kind, source)`` is unique, so a fact recorded
twice is one record. Grades are computed from records by :mod:`verifier.credit`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class CreditPolicy(Base):
    """One version of the grading policy: its canonical JSON document (docs/credit.md)."""

    __tablename__ = "credit_policy"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: RFC 8785 canonical JSON of the policy document
    document: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    #: the one policy grades are computed with (exactly one row is active)
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: the log entry stating the policy's digest
    entry_id: Mapped[str] = mapped_column(String(64))


class CreditRecord(Base):
    """One fact bearing on an entity's credit (``kind``: :data:`verifier.credit.RECORD_KINDS`)."""

    __tablename__ = "credit_record"
    __table_args__ = (
        UniqueConstraint("kind", "source"),
        Index("ix_credit_record_entity_id_id", "entity_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("trading_entity.id"))
    kind: Mapped[str] = mapped_column(String(32))
    #: what it came from: ``case:12``, ``takedown:td-…``, ``spotcheck:sc-…/ent-3``,
    #: ``complaint:cp-…``, ``violation:sv-…``, ``repair:rp-…``
    source: Mapped[str] = mapped_column(String(160))
    #: when the fact happened (what decay counts from)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: JSON object: what the source said (outcome, legal basis, deadline …), shown as is
    details: Mapped[str] = mapped_column(Text)
    #: JSON array of the record ids (cr-<n>) this one settles (a repair's records)
    covers: Mapped[str] = mapped_column(Text, default="[]")
    #: the ``credit-record`` log entry
    entry_id: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CreditGrade(Base):
    """An entity's current grade (also mirrored in ``trading_entity.risk_grade``)."""

    __tablename__ = "credit_grade"

    entity_id: Mapped[int] = mapped_column(
        ForeignKey("trading_entity.id"), primary_key=True, autoincrement=False
    )
    grade: Mapped[str] = mapped_column(String(1), index=True)
    score: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)
    #: the newest record the grade was computed with
    last_record_id: Mapped[int | None] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: when the grade would change by decay alone (None: never); the regrade job's key
    next_change_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)


class CreditGradeChange(Base):
    """One change of an entity's grade, with the records that caused it; a log entry."""

    __tablename__ = "credit_grade_change"
    __table_args__ = (Index("ix_credit_grade_change_entity_id_id", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("trading_entity.id"))
    from_grade: Mapped[str | None] = mapped_column(String(1))
    to_grade: Mapped[str] = mapped_column(String(1))
    score: Mapped[int] = mapped_column(Integer)
    policy_version: Mapped[int] = mapped_column(Integer)
    #: ``record`` (a new record), ``decay`` (time passed), ``policy`` (a new policy version)
    cause: Mapped[str] = mapped_column(String(16))
    #: JSON array of the record ids (cr-<n>) that caused it
    record_refs: Mapped[str] = mapped_column(Text)
    #: JSON array of the explanation lines at the change
    lines: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
