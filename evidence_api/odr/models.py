"""Online dispute resolution (ODR; tables of ``0027_odr``; docs/odr.md).

:class:`OdrCase` is fixed here (statistics read it); :class:`OdrEvent` is the feature's:
every step of a mediation (opening, offers, acceptances, rejections, notes, extensions,
its closing) is one immutable row with the log entry recording it. Which offers are still
open is derived from the events (:mod:`evidence_api.odr.workflow`), never stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
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
    #: JSON (docs/odr.md §outcome): the agreed terms, or why it failed
    outcome: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    entry_id: Mapped[str] = mapped_column(String(64))


class OdrEvent(Base):
    """One step of a mediation and the log entry recording it (kind ``odr``)."""

    __tablename__ = "odr_event"
    __table_args__ = (
        UniqueConstraint("odr_seq", "number"),
        UniqueConstraint("odr_seq", "offer_no"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    odr_seq: Mapped[int] = mapped_column(ForeignKey("odr_case.seq"))
    #: 1, 2, … within the mediation
    number: Mapped[int] = mapped_column(Integer)
    #: opened | offer | accept | reject | note | extend | agreed | failed
    kind: Mapped[str] = mapped_column(String(16))
    #: on whose behalf: consumer | merchant | platform | mediator | system
    party: Mapped[str] = mapped_column(String(16))
    #: who recorded it: a token pseudonym, ``consumer`` (the access token) or ``system``
    actor: Mapped[str] = mapped_column(String(64))
    #: an offer's own number (1, 2, … within the mediation); None for other events
    offer_no: Mapped[int | None] = mapped_column(Integer)
    #: the offer an acceptance, rejection or counter-offer answers
    ref_offer: Mapped[int | None] = mapped_column(Integer)
    #: an offer's remedy: refund | replace | repair | compensation | other
    remedy: Mapped[str | None] = mapped_column(String(16))
    #: an offer's amount in 分 (fen)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    #: the offer's terms, a reason or a note (stored; the entry holds its SHA-256)
    text: Mapped[str | None] = mapped_column(Text)
    #: an extension's new deadline
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime())
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    entry_id: Mapped[str] = mapped_column(String(128), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
