"""Takedown orders, their state changes and webhook deliveries (tables of ``0007_takedowns``).

Polling without loss: each platform has a :class:`TakedownFeed` row whose
``last_seq`` counts the changes to its orders. Issuing an order and changing
its state both start by incrementing that row (``UPDATE ... RETURNING``), which
locks it until the transaction commits; so per platform, changes commit in
``change_seq`` order and a platform that lists ``change_seq > cursor`` never
skips one that commits later with a smaller number.
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base, OrderedChild

TZ = UtcDateTime()


class TakedownFeed(Base):
    """Per platform: the last ``change_seq`` given to one of its orders (a lock, too)."""

    __tablename__ = "takedown_feed"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id"), primary_key=True, autoincrement=False
    )
    last_seq: Mapped[int] = mapped_column(BigInteger)


class TakedownOrder(Base):
    """An order to one platform to take listings down, citing evidence, by a deadline."""

    __tablename__ = "takedown_order"
    __table_args__ = (
        UniqueConstraint("platform_id", "change_seq"),
        Index("ix_takedown_order_status_deadline", "status", "deadline"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), index=True)
    #: The unit it belongs to (its jurisdiction, docs/supervision.md §1); None: the top.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: the platform's feed position of this order's latest change
    change_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    listing_urls: Mapped[str] = mapped_column(Text)  # JSON array
    legal_basis: Mapped[str] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)
    deadline: Mapped[datetime] = mapped_column(TZ)
    grant_files: Mapped[bool] = mapped_column(Boolean)
    case_number: Mapped[str | None] = mapped_column(String(64), index=True)
    issued_by: Mapped[str] = mapped_column(String(64))  # token pseudonym
    issued_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    #: SHA-256 of the RFC 8785 canonical JSON of the order's content (in the issuance entry)
    content_sha256: Mapped[str] = mapped_column(String(64))

    evidence: Mapped[list[TakedownEvidence]] = relationship(
        order_by="TakedownEvidence.position", lazy="selectin"
    )


class TakedownEvidence(OrderedChild, Base):
    """Evidence an order cites (by public id): the only evidence its platform may read."""

    __tablename__ = "takedown_evidence"
    __table_args__ = (UniqueConstraint("order_seq", "evidence_id"),)

    order_seq: Mapped[int] = mapped_column(ForeignKey("takedown_order.seq"), index=True)
    evidence_id: Mapped[str] = mapped_column(ForeignKey("evidence.id"), index=True)


class TakedownEvent(Base):
    """One state change (issuance included) and the ``takedown`` log entry recording it."""

    __tablename__ = "takedown_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_seq: Mapped[int] = mapped_column(ForeignKey("takedown_order.seq"), index=True)
    change_seq: Mapped[int] = mapped_column(BigInteger)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(TZ)
    actor: Mapped[str] = mapped_column(String(64))  # pseudonym, or "system"
    note: Mapped[str | None] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(TZ)
    entry_id: Mapped[str] = mapped_column(String(128), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class WebhookDelivery(Base):
    """One event to push to a platform's webhook; retried until delivered or given up."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_state_next", "state", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id"), index=True)
    order_seq: Mapped[int] = mapped_column(ForeignKey("takedown_order.seq"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("takedown_event.id"))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body sent
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(String(512))


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: when, the answer (or the error), how long."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_seq: Mapped[int] = mapped_column(ForeignKey("webhook_delivery.seq"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(TZ)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(512))
    duration_ms: Mapped[int] = mapped_column(Integer)
