"""Tables of 双随机、一公开 (migration ``0019_spotcheck``): the inspection-item list
(抽查事项清单), spot-check plans with their committed canonical JSON and draw, and
one result per inspected entity. Codes, not labels, are stored (docs/inspections.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base

#: A plan's states: committed to the log (its seed block not used yet), then drawn.
PLAN_COMMITTED = "committed"
PLAN_DRAWN = "drawn"


class InspectionItem(Base):
    """One 抽查事项: what is inspected, under which law, by which department, for
    which entity classes (``entity_classes``: a JSON list of risk classes; empty: all)."""

    __tablename__ = "inspection_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    legal_basis: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(128))
    entity_classes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SpotCheckPlan(Base):
    """A spot-check plan. ``plan_json`` holds the committed canonical bytes
    (verifier.spotcheck.plan_bytes) exactly; nothing of the plan changes after it."""

    __tablename__ = "spot_check_plan"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(256))
    #: the request's filters and settings as given (JSON), for the record
    request: Mapped[str] = mapped_column(Text)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    plan_json: Mapped[str] = mapped_column(Text)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    seed_height: Mapped[int] = mapped_column(BigInteger)
    #: sizes of the committed pools and recusal list (also in ``plan_json``)
    entity_pool: Mapped[int] = mapped_column(Integer)
    officer_pool: Mapped[int] = mapped_column(Integer)
    recusals: Mapped[int] = mapped_column(Integer)
    #: private: JSON list of the token ids of the plan's officers in ref order (the
    #: n-th is ``off-<n>``); never in the plan JSON, a log entry or a public view
    officer_tokens: Mapped[str] = mapped_column(Text)
    commit_entry_id: Mapped[str] = mapped_column(String(64))
    seed_block_hash: Mapped[str | None] = mapped_column(String(66))
    draw_json: Mapped[str | None] = mapped_column(Text)
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    draw_entry_id: Mapped[str | None] = mapped_column(String(64))
    drawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    public: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    publish_entry_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SpotCheckDrawn(Base):
    """An entity the draw chose, in the order drawn, with its assigned officers (JSON
    list of refs): what the result form and the public search read."""

    __tablename__ = "spot_check_drawn"
    __table_args__ = (UniqueConstraint("plan_seq", "entity_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_seq: Mapped[int] = mapped_column(ForeignKey("spot_check_plan.seq"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    entity_ref: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    officers: Mapped[str] = mapped_column(Text)


class SpotCheckResult(Base):
    """The outcome of inspecting one drawn entity (one per entity and plan)."""

    __tablename__ = "spot_check_result"
    __table_args__ = (UniqueConstraint("plan_seq", "entity_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    plan_seq: Mapped[int] = mapped_column(ForeignKey("spot_check_plan.seq"), index=True)
    entity_ref: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    officer: Mapped[str] = mapped_column(String(64))
    #: JSON list of evidence ids (ev-…)
    evidence_ids: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
