"""The serious-violator list (严重违法失信名单; tables of ``0023_violators``).

:class:`SeriousViolation` is the list itself; the feed, acknowledgement and webhook
tables are the feature's (docs/violators.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class SeriousViolation(Base):
    """One entity's placement on the list: legal basis, period, and how it ended."""

    __tablename__ = "serious_violation"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: public id, ``sv-…``
    id: Mapped[str] = mapped_column(String(64), unique=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: ``listed``, ``removed`` (repair or officer decision), ``expired`` (period over)
    status: Mapped[str] = mapped_column(String(16), index=True)
    legal_basis: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)
    #: the case the placement rests on, if any
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"))
    listed_from: Mapped[datetime] = mapped_column(UtcDateTime())
    listed_until: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    placed_by: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    removed_by: Mapped[str | None] = mapped_column(String(64))
    removal_reason: Mapped[str | None] = mapped_column(Text)
    #: the accepted credit repair that removed it (rp-…)
    repair_id: Mapped[str | None] = mapped_column(String(64))
    #: the feed position of its latest change
    change_seq: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
