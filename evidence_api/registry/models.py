"""Registries of the supervision workflow: platforms, online trading entities, cases.

Tables share :data:`evidence_api.core.models.Base`, so the one Alembic history
(``0005_platforms``, ``0006_registries``) creates them.

Codes, not labels, are stored (``status='filed'``, ``risk_grade='B'``): the
Chinese labels belong to :mod:`evidence_api.registry.case_workflow` and the API,
so a label can be reworded without a migration.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base


class Platform(Base):
    """An e-commerce platform that receives takedown orders.

    ``code`` is what platform tokens are bound to (``ApiToken.platform``).
    The webhook secret signs deliveries (HMAC-SHA256), so it is kept, not hashed:
    sealed with AES-256-GCM (``aesgcm1:...``, :mod:`evidence_api.core.secretbox`), which
    needs up to 216 characters for a 128-character secret.
    """

    __tablename__ = "platform"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_secret: Mapped[str | None] = mapped_column(String(512))
    webhook_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TradingEntity(Base):
    """An online trading entity (网络交易经营者): one shop on one platform.

    ``uscc`` is the 统一社会信用代码 (GB 32100-2015), checked before it is stored;
    it is optional because individual sellers often have none. A shop id is
    unique on its platform (NULLs, i.e. unknown ids, never collide).
    """

    __tablename__ = "trading_entity"
    __table_args__ = (UniqueConstraint("platform_id", "shop_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), index=True)
    shop_name: Mapped[str] = mapped_column(String(256), index=True)
    shop_id: Mapped[str | None] = mapped_column(String(128))
    shop_url: Mapped[str | None] = mapped_column(String(2048))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    #: 企业信用风险分类: A (低) .. D (高); None: not yet graded.
    risk_grade: Mapped[str | None] = mapped_column(String(1), index=True)
    #: Free-text risk category (e.g. 食品, 化妆品, 直播带货).
    risk_class: Mapped[str | None] = mapped_column(String(64))
    #: 开始经营日期: when it started trading (the 2+ years indicator of GET /v1/stats/market)
    operating_since: Mapped[date | None] = mapped_column(Date)
    #: The unit it belongs to (its jurisdiction, docs/supervision.md §1); None: the top.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaseFile(Base):
    """A case (案件): number, title, the entity concerned, officer and workflow status.

    ``status`` is a code of :mod:`evidence_api.registry.case_workflow`; every change
    of it is a :class:`CaseEvent`.
    """

    __tablename__ = "case_file"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(256))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    officer: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: The unit it belongs to (its jurisdiction, docs/supervision.md §1); None: the top.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: How a closed case ended: ``penalty`` (行政处罚), ``reduced`` (减轻处罚),
    #: ``no_penalty`` (不予处罚), ``not_filed`` (不予立案); None while open (docs/leniency.md)
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    #: the 免罚清单 item a ``reduced`` or ``no_penalty`` outcome cites
    leniency_item: Mapped[str | None] = mapped_column(String(32))
    #: JSON: the conditions checked at closing and what each found (the reasoning)
    outcome_reasoning: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaseEvidence(Base):
    """Evidence linked to a case (by the evidence's public id); each link once."""

    __tablename__ = "case_evidence"
    __table_args__ = (UniqueConstraint("case_id", "evidence_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"), index=True)
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CaseEvent(Base):
    """One line of a case's history: creation, an edit, a status change or an evidence link.

    ``actor`` is the caller's pseudonym (``token-<id>``), as in log entries.
    """

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case_id_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    evidence_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
