"""Online dispute resolution (ODR; tables of ``0027_odr``).

:class:`OdrCase` is fixed here (statistics read it); offers and events are the
feature's (docs/complaints.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class OdrCase(Base):
    """One mediation between a consumer, a merchant and its platform."""

    __tablename__ = "odr_case"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: public id, ``odr-…``
    id: Mapped[str] = mapped_column(String(64), unique=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaint.id"), unique=True)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), index=True)
    #: ``open`` → ``agreed`` | ``failed`` (including a deadline passed)
    status: Mapped[str] = mapped_column(String(16), index=True)
    deadline: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    entry_id: Mapped[str] = mapped_column(String(64))
