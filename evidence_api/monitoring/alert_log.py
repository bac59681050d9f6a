"""Recording alerts: opening one and every change of its state, each with its ``alert``
log entry (queued for the sealer with its signed receipt) and, when a department
webhook is configured, the delivery to send — all in the caller's transaction, so the
alert, its history, the log and the deliveries never disagree.

The ``alert`` entry's body (docs/monitoring.md §6)::

    {"alert_id": "alr-…", "rule": "price_changed", "to": "open", "actor": "system",
     "reason_sha256": "…", "monitor_id": "mon-…", "run_id": "mrun-…",
     "order_id": "td-…", "evidence_id": "ev-…", "from": "open", "note_sha256": "…",
     "case_id": 12}

(keys absent when they do not apply). No text of the alert is in the entry, only its
digest: entries may be shown to anyone holding a proof.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.core.db import Transaction
from evidence_api.core.ids import new_id
from evidence_api.core.ledger import record_entry
from evidence_api.monitoring.models import ALERT_OPEN, Alert, AlertDelivery, AlertEvent, Monitor
from evidence_api.monitoring.observation import RULE_LABELS, sha256_text
from evidence_api.takedowns.models import TakedownOrder
from verifier.models import Entry

#: The actor of what the service does by itself.
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class AlertLedger:
    """What recording an alert uses: transactions, the receipt issuer, the sealer's
    nudge, and whether alert events go to the department webhook."""

    transaction: Transaction
    sign_receipt: Callable[[Entry], tuple[bytes, str]]
    queued: Callable[[int], None]
    webhook: bool = False


def ledger_of(runtime: Any) -> AlertLedger:
    """The ledger out of a process's :class:`~evidence_api.core.runtime.Runtime`."""
    return AlertLedger(
        transaction=runtime.session,
        sign_receipt=runtime.sign_receipt,
        queued=runtime.queued,
        webhook=bool(runtime.settings.alert_webhook_url and runtime.settings.alert_webhook_secret),
    )


@dataclass(frozen=True)
class AlertDraft:
    """An alert to open. ``recipient``: the officer it is for (pseudonym)."""

    rule: str
    reason: str
    recipient: str
    detail: dict[str, Any] = field(default_factory=dict)
    monitor_seq: int | None = None
    monitor_id: str | None = None
    run_seq: int | None = None
    run_id: str | None = None
    order_seq: int | None = None
    order_id: str | None = None
    platform_id: int | None = None
    entity_id: int | None = None
    evidence_id: str | None = None


def _payload(alert: Alert, event: AlertEvent, entry: Entry, body: dict[str, Any]) -> str:
    value = {
        "delivery_id": "",  # filled by the caller
        "event": f"alert.{event.to_status}",
        "alert_id": alert.id,
        "rule": alert.rule,
        "rule_label": RULE_LABELS.get(alert.rule, alert.rule),
        "status": event.to_status,
        "previous_status": event.from_status,
        "reason": alert.reason,
        "evidence_id": alert.evidence_id,
        "monitor_id": body.get("monitor_id"),
        "order_id": body.get("order_id"),
        "at": utc_timestamp(event.at),
        "entry_id": entry.id,
        "alert_url": f"/v1/alerts/{alert.id}",
    }
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def record_event(
    ledger: AlertLedger,
    session: Session,
    alert: Alert,
    *,
    from_status: str | None,
    to_status: str,
    actor: str,
    at: datetime,
    note: str | None = None,
    body: dict[str, Any] | None = None,
) -> AlertEvent:
    """Write one change of ``alert`` (already updated by the caller, and flushed): its
    event, its ``alert`` entry and its delivery. The caller calls ``ledger.queued(1)``
    after the commit."""
    entry_body: dict[str, Any] = {
        "alert_id": alert.id,
        "rule": alert.rule,
        "to": to_status,
        "actor": actor,
        "reason_sha256": sha256_text(alert.reason),
    }
    if from_status is not None:
        entry_body["from"] = from_status
    if note is not None:
        entry_body["note_sha256"] = sha256_text(note)
    if alert.evidence_id is not None:
        entry_body["evidence_id"] = alert.evidence_id
    entry_body |= {k: v for k, v in (body or {}).items() if v is not None}
    entry, leaf = record_entry(session, ledger.sign_receipt, "alert", "al", entry_body, at)
    event = AlertEvent(
        alert_seq=alert.seq,
        from_status=from_status,
        to_status=to_status,
        at=at,
        actor=actor,
        note=note,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    )
    session.add(event)
    session.flush()
    if ledger.webhook:
        delivery_id = new_id("adl")
        payload = json.loads(_payload(alert, event, entry, entry_body))
        payload["delivery_id"] = delivery_id
        session.add(
            AlertDelivery(
                id=delivery_id,
                event_id=event.id,
                payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                state="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
            )
        )
    return event


def _unit_of(session: Session, draft: AlertDraft) -> int | None:
    """The unit an alert belongs to: its monitor's, else its takedown order's (§1)."""
    if draft.monitor_seq is not None:
        unit: int | None = session.execute(
            select(Monitor.unit_id).where(Monitor.seq == draft.monitor_seq)
        ).scalar()
        return unit
    if draft.order_seq is not None:
        order_unit: int | None = session.execute(
            select(TakedownOrder.unit_id).where(TakedownOrder.seq == draft.order_seq)
        ).scalar()
        return order_unit
    return None


def open_alert(
    ledger: AlertLedger, session: Session, draft: AlertDraft, *, at: datetime | None = None
) -> Alert:
    """Open an alert (status ``open``) in the caller's transaction, with its first
    event and ``alert`` entry. The caller calls ``ledger.queued(1)`` after the commit."""
    moment = at or datetime.now(UTC)
    alert = Alert(
        unit_id=_unit_of(session, draft),
        id=new_id("alr"),
        rule=draft.rule,
        reason=draft.reason,
        detail=json.dumps(draft.detail, ensure_ascii=False, separators=(",", ":"), default=str),
        monitor_seq=draft.monitor_seq,
        run_seq=draft.run_seq,
        order_seq=draft.order_seq,
        platform_id=draft.platform_id,
        entity_id=draft.entity_id,
        evidence_id=draft.evidence_id,
        status=ALERT_OPEN,
        recipient=draft.recipient,
        created_at=moment,
        updated_at=moment,
    )
    session.add(alert)
    session.flush()
    record_event(
        ledger,
        session,
        alert,
        from_status=None,
        to_status=ALERT_OPEN,
        actor=SYSTEM_ACTOR,
        at=moment,
        body={"monitor_id": draft.monitor_id, "run_id": draft.run_id, "order_id": draft.order_id},
    )
    return alert
