"""信息公示 tables: the penalty decisions published (``case_publication``, migration
``0020_disclosure``).

A row keeps what was published (the public record, its SHA-256 and its ``disclosure``
log entry) and, privately, who published or withdrew it. A withdrawn row stays: the
public list drops it, the log keeps both entries (docs/disclosure.md §4).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base

#: ``status`` of a publication: shown to the public, or taken down (kept for the record).
PUBLISHED = "published"
WITHDRAWN = "withdrawn"


class CasePublication(Base):
    """One administrative penalty decision (行政处罚决定) published for a closed case."""

    __tablename__ = "case_publication"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Public id, ``pub-…`` (:func:`~evidence_api.core.ids.new_id`).
    id: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    #: The case's unit when published (its jurisdiction: who may withdraw it).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # --- the public record (what record_sha256 commits to) ---
    case_number: Mapped[str] = mapped_column(String(64))
    decision_number: Mapped[str] = mapped_column(String(64))
    entity_name: Mapped[str] = mapped_column(String(256), index=True)
    entity_uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    facts: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    penalty: Mapped[str] = mapped_column(Text)
    decision_date: Mapped[date] = mapped_column(Date)
    deciding_unit: Mapped[str] = mapped_column(String(128))
    record_sha256: Mapped[str] = mapped_column(String(64))
    # --- the log and the people (private: never in a public answer) ---
    published_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    published_by: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    withdraw_entry_id: Mapped[str | None] = mapped_column(String(64))
