"""The serious-violator list (严重违法失信名单; tables of ``0023_violators``).

:class:`SeriousViolation` is the list itself; the feed, acknowledgement and webhook
tables are the feature's (docs/violators.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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


class ViolatorFeed(Base):
    """The feed's lock row (one row, ``id`` 1): ``last_seq`` is the last change's number.

    Every placement, removal and expiry starts by incrementing it (``UPDATE … RETURNING``),
    which holds the row lock until commit; so changes commit in ``seq`` order and a
    platform reading ``seq > cursor`` up to the ``last_seq`` it read first never skips a
    change that commits later with a smaller number (as the takedown feed,
    :mod:`evidence_api.takedowns.models`).
    """

    __tablename__ = "violator_feed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class ViolatorChange(Base):
    """One change of the list, in feed order: ``listed``, ``removed`` or ``expired``. Every
    platform reads every change (一处失信、处处受限)."""

    __tablename__ = "violator_change"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    violation_seq: Mapped[int] = mapped_column(ForeignKey("serious_violation.seq"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: pseudonym of the officer, or ``system`` (expiry), or ``repair:<rp-…>``
    actor: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class ViolatorAck(Base):
    """A platform's acknowledgement of one change, with the measures it took; once per
    platform and change."""

    __tablename__ = "violator_ack"
    __table_args__ = (UniqueConstraint("change_seq", "platform_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    change_seq: Mapped[int] = mapped_column(ForeignKey("violator_change.seq"), index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), index=True)
    #: JSON array of measure codes (docs/violators.md §5)
    measures: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    entry_id: Mapped[str] = mapped_column(String(64))


class ViolatorDelivery(Base):
    """One change to push to one platform's webhook (an outbox row, written with the
    change); sent by :mod:`evidence_api.violators.dispatch` through the takedowns'
    webhook machinery, retried with backoff until delivered or given up."""

    __tablename__ = "violator_delivery"
    __table_args__ = (
        UniqueConstraint("platform_id", "change_seq"),
        Index("ix_violator_delivery_state_next", "state", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), index=True)
    change_seq: Mapped[int] = mapped_column(ForeignKey("violator_change.seq"))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body sent
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(512))
