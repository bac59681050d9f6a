"""Monitoring's tables (``0014_monitoring``): monitors, their runs, alerts and their
history, the per-host start gate, and the re-capture checks of completed takedowns.

* :class:`Monitor` is due when ``enabled`` and ``next_run_at <= now``; the scheduler's
  tick reads only due rows through ``ix_monitor_due`` (never every monitor) and moves
  each one's ``next_run_at`` forward in the same transaction that queues its run.
* :class:`MonitorRun` is claimed like a capture (``queued`` → ``running`` by a
  conditional UPDATE, heartbeat, retried once when its process died). A run that fires
  nothing keeps its observation's digests and the ``monitor`` log entry recording them;
  a run that fires keeps its capture as evidence and opens :class:`Alert` rows.
* :class:`MonitorHost` and :class:`MonitorHostSlot` bound the load on one host across
  every process: a run starts only after moving its host's ``next_start_at`` forward
  (at most one start per ``monitor_host_spacing`` seconds) and holding one of its
  ``monitor_host_concurrency`` slots (a lease: a dead holder's slot frees itself at
  ``held_until``).
* :class:`TakedownCheck`: one re-capture of one listed URL of a completed order, due at
  a configured delay after completion (``takedown_verify_delays``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from anchoring.schema import BigId
from evidence_api.core.db import UtcDateTime
from evidence_api.core.models import Base

TZ = UtcDateTime()

# Run states (like a capture's), plus ``deferred``: its host was busy; queued again later.
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
RUN_STATUSES = (QUEUED, RUNNING, DONE, FAILED)

# Alert states: open until an officer dismisses it or converts it to a case (clue).
ALERT_OPEN = "open"
ALERT_DISMISSED = "dismissed"
ALERT_CONVERTED = "converted"
ALERT_STATUSES = (ALERT_OPEN, ALERT_DISMISSED, ALERT_CONVERTED)

# Takedown check states.
CHECK_PENDING = "pending"
CHECK_RUNNING = "running"
CHECK_VERIFIED = "removal_verified"
CHECK_REAPPEARED = "reappeared"
CHECK_FAILED = "failed"
CHECK_CANCELLED = "cancelled"  #: the order was reopened or withdrawn before it was due


class Monitor(Base):
    """One watched target: a listing, a shop page or a platform search, on a schedule."""

    __tablename__ = "monitor"
    __table_args__ = (Index("ix_monitor_due", "enabled", "next_run_at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)  # mon-…
    name: Mapped[str] = mapped_column(String(256))
    #: listing | shop | search
    target_kind: Mapped[str] = mapped_column(String(16))
    #: the URL each run captures (for ``search``: the template with the keyword filled in)
    url: Mapped[str] = mapped_column(String(2048))
    url_template: Mapped[str | None] = mapped_column(String(2048))
    keyword: Mapped[str | None] = mapped_column(String(256))
    #: lower-case host of ``url``: the per-host limits' key
    host: Mapped[str] = mapped_column(String(255), index=True)
    #: exactly one of the two is set
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(128))
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), index=True)
    #: The unit it belongs to (its jurisdiction, docs/supervision.md §1); None: the top.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    #: the rules' configuration, JSON (:class:`evidence_api.monitoring.schemas.Rules`)
    rules: Mapped[str] = mapped_column(Text)
    #: what a firing run keeps: on_alert (light runs, a full capture when a rule fires),
    #: always (every run is a full capture), never (the light capture is the evidence)
    archive: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)
    next_run_at: Mapped[datetime] = mapped_column(TZ)
    last_run_at: Mapped[datetime | None] = mapped_column(TZ)
    #: the last observation the rules compare against, JSON (None before the first run)
    baseline: Mapped[str | None] = mapped_column(Text)
    #: the listing is gone (as last seen): a later run finding it fires ``back``
    gone: Mapped[bool] = mapped_column(Boolean)
    created_by_token_id: Mapped[int] = mapped_column(ForeignKey("api_token.id"))
    created_by: Mapped[str] = mapped_column(String(64))  # pseudonym
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    #: DELETE sets it (the history stays; the monitor no longer runs or lists)
    deleted_at: Mapped[datetime | None] = mapped_column(TZ)


class MonitorRun(Base):
    """One run of a monitor: what it saw (digests), what fired, and its log entry."""

    __tablename__ = "monitor_run"
    __table_args__ = (
        Index("ix_monitor_run_monitor_seq", "monitor_seq", "seq"),
        Index("ix_monitor_run_status_scheduled", "status", "scheduled_at"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)  # mrun-…
    monitor_seq: Mapped[int] = mapped_column(ForeignKey("monitor.seq"))
    status: Mapped[str] = mapped_column(String(16))
    scheduled_at: Mapped[datetime] = mapped_column(TZ)
    started_at: Mapped[datetime | None] = mapped_column(TZ)
    finished_at: Mapped[datetime | None] = mapped_column(TZ)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TZ)
    owner: Mapped[str | None] = mapped_column(String(160))
    attempts: Mapped[int] = mapped_column(Integer)
    #: times the run found its host busy and waited (deferred)
    deferrals: Mapped[int] = mapped_column(Integer)
    #: the observation (JSON: status, title, prices, availability, digests), once done
    observation: Mapped[str | None] = mapped_column(Text)
    #: the findings that fired (JSON list), once done; [] when none did
    fired: Mapped[str | None] = mapped_column(Text)
    #: the evidence kept (only when a rule fired, or archive = always)
    evidence_id: Mapped[str | None] = mapped_column(ForeignKey("evidence.id"))
    #: the ``monitor`` log entry recording the observation
    entry_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    leaf_hash: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(1024))


class Alert(Base):
    """A rule that fired on a run (or a takedown re-capture that found a listing back)."""

    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_status_seq", "status", "seq"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)  # alr-…
    #: content_changed | price_changed | price_bound | prohibited_words | gone | back |
    #: reappeared (a takedown's listing found again)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    #: why it fired, in words (Chinese, with the English alongside)
    reason: Mapped[str] = mapped_column(Text)
    #: the finding's details (JSON: words and their legal basis, old/new prices, …)
    detail: Mapped[str] = mapped_column(Text)
    monitor_seq: Mapped[int | None] = mapped_column(ForeignKey("monitor.seq"), index=True)
    run_seq: Mapped[int | None] = mapped_column(ForeignKey("monitor_run.seq"))
    order_seq: Mapped[int | None] = mapped_column(ForeignKey("takedown_order.seq"), index=True)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("platform.id"), index=True)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("trading_entity.id"), index=True)
    #: The unit it belongs to (its jurisdiction, docs/supervision.md §1); None: the top.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    evidence_id: Mapped[str | None] = mapped_column(ForeignKey("evidence.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    #: the officer it is for (pseudonym): the monitor's creator, the order's issuer
    recipient: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"))
    created_at: Mapped[datetime] = mapped_column(TZ, index=True)
    updated_at: Mapped[datetime] = mapped_column(TZ)


class AlertEvent(Base):
    """One state change of an alert (its opening included) and its ``alert`` log entry."""

    __tablename__ = "alert_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_seq: Mapped[int] = mapped_column(ForeignKey("alert.seq"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(TZ)
    actor: Mapped[str] = mapped_column(String(64))  # pseudonym, or "system"
    note: Mapped[str | None] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(String(128), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class AlertDelivery(Base):
    """One alert event to push to the department system's webhook (retried like the
    platforms' deliveries)."""

    __tablename__ = "alert_delivery"
    __table_args__ = (Index("ix_alert_delivery_state_next", "state", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_event.id"))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body sent
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(String(512))


class MonitorHost(Base):
    """A host's start gate: no run toward it starts before ``next_start_at``."""

    __tablename__ = "monitor_host"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_start_at: Mapped[datetime] = mapped_column(TZ)


class MonitorHostSlot(Base):
    """One of a host's concurrency slots, leased by a running run until ``held_until``."""

    __tablename__ = "monitor_host_slot"
    __table_args__ = (PrimaryKeyConstraint("host", "slot"),)

    host: Mapped[str] = mapped_column(String(255))
    slot: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str | None] = mapped_column(String(160))
    held_until: Mapped[datetime | None] = mapped_column(TZ)


class TakedownCheck(Base):
    """One scheduled re-capture of one listed URL of a completed takedown order."""

    __tablename__ = "takedown_check"
    __table_args__ = (Index("ix_takedown_check_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_seq: Mapped[int] = mapped_column(ForeignKey("takedown_order.seq"), index=True)
    #: which completion of the order (a reopened order completed again starts a new round)
    round: Mapped[int] = mapped_column(Integer)
    #: the delay after completion, in seconds (one of ``takedown_verify_delays``)
    delay_seconds: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    due_at: Mapped[datetime] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(160))
    started_at: Mapped[datetime | None] = mapped_column(TZ)
    finished_at: Mapped[datetime | None] = mapped_column(TZ)
    evidence_id: Mapped[str | None] = mapped_column(ForeignKey("evidence.id"))
    #: the ``takedown`` event recording the result
    event_id: Mapped[int | None] = mapped_column(ForeignKey("takedown_event.id"))
    reason: Mapped[str | None] = mapped_column(String(1024))
