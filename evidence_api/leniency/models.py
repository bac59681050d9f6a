"""The 免罚清单 (table of ``0025_leniency``; docs/leniency.md).

An item is never deleted: a case closed citing it keeps pointing at it, so an item that
no longer applies is retired (``active`` false). Its conditions are data (JSON, checked
by :func:`evidence_api.leniency.conditions.parse_conditions`), so a new item or a changed
window needs no code. Every change is a ``leniency_item`` log entry; ``entry_id`` is the
latest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class LeniencyItem(Base):
    """One item of the list: the violation, its legal basis, the outcome it allows
    (``no_penalty`` 不予处罚 or ``reduced`` 减轻处罚) and the conditions (JSON)."""

    __tablename__ = "leniency_item"

    #: stable key cases cite (``case_file.leniency_item``), e.g. ``qz-ec-01``
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    #: the violation as the list describes it (违法行为)
    violation: Mapped[str] = mapped_column(Text)
    #: 法律依据: the leniency provision and the provision violated
    legal_basis: Mapped[str] = mapped_column(Text)
    #: ``no_penalty`` or ``reduced``
    outcome: Mapped[str] = mapped_column(String(16))
    #: JSON object: ``first_offence`` {window_days, scope}, ``corrected_in_time``, ``minor_harm``
    conditions: Mapped[str] = mapped_column(Text)
    #: False: retired, cited by no new closing
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    #: 1 at creation, +1 per change
    version: Mapped[int] = mapped_column(Integer)
    #: the latest ``leniency_item`` log entry
    entry_id: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
