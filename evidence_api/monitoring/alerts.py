"""Alerts (预警) for officers: listing, one alert with its history and proofs, and triage.

Triage is two moves, both from ``open`` and both final: **dismiss** (排除, with a
reason) and **convert** to a clue or case (转线索: the alert's evidence linked to an
existing case that is not closed, or to a new case in 线索 created for it). Each move is
a conditional UPDATE (``WHERE status = 'open'``), so of two officers triaging one alert
at once one wins and the other gets a 409 naming the status it found; and each is
recorded by :func:`evidence_api.monitoring.alert_log.record_event` (its ``alert`` log
entry, and its webhook delivery) in the same transaction as the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.core import jurisdiction
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.monitoring.alert_log import AlertLedger, record_event
from evidence_api.monitoring.alert_schemas import (
    STATUS_LABELS,
    AlertDetail,
    AlertEntryProof,
    AlertEventPublic,
    AlertPage,
    AlertProofs,
    AlertPublic,
    ConvertBody,
    DismissBody,
)
from evidence_api.monitoring.models import (
    ALERT_CONVERTED,
    ALERT_DISMISSED,
    ALERT_OPEN,
    ALERT_STATUSES,
    Alert,
    AlertEvent,
    Monitor,
)
from evidence_api.monitoring.observation import RULE_LABELS, RULES
from evidence_api.registry import case_workflow, cases
from evidence_api.registry.models import CaseEvent, CaseFile, Platform, TradingEntity
from evidence_api.registry.schemas import CaseCreate, EvidenceLink
from evidence_api.takedowns.models import TakedownOrder
from verifier.bundle import Bundle

MAX_PAGE = 200
#: A new case's number: the alert's id behind this prefix (one case per alert).
CASE_PREFIX = "预警线索-"


@dataclass(frozen=True)
class AlertFilter:
    """``GET /v1/alerts``'s filters; ``recipient`` is a pseudonym (``me`` resolved)."""

    rule: str | None = None
    platform: str | None = None
    entity_id: int | None = None
    status: str | None = None
    monitor: str | None = None
    recipient: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: a unit's code: its alerts and those of the units below it
    unit: str | None = None

    def checked(self) -> AlertFilter:
        """Itself, once ``rule`` and ``status`` are known values (422 naming them)."""
        if self.rule is not None and self.rule not in RULES:
            raise InvalidInputError(
                f"rule: unknown rule {self.rule!r}; one of {', '.join(RULES)}", field="rule"
            )
        if self.status is not None and self.status not in ALERT_STATUSES:
            raise InvalidInputError(
                f"status: unknown status {self.status!r}; one of "
                + ", ".join(f"{s} ({STATUS_LABELS[s]})" for s in ALERT_STATUSES),
                field="status",
            )
        return self


def _rows() -> Select[Alert, str, str, str, str]:
    """Alerts with what an item names besides the row: platform code, monitor and order
    ids, case number (each None when the alert has none: outer joins)."""
    return (
        select(Alert, Platform.code, Monitor.id, TakedownOrder.id, CaseFile.number)
        .outerjoin(Platform, Platform.id == Alert.platform_id)
        .outerjoin(Monitor, Monitor.seq == Alert.monitor_seq)
        .outerjoin(TakedownOrder, TakedownOrder.seq == Alert.order_seq)
        .outerjoin(CaseFile, CaseFile.id == Alert.case_id)
    )


def _public(
    alert: Alert,
    platform: str | None,
    monitor_id: str | None,
    order_id: str | None,
    case_number: str | None,
) -> AlertPublic:
    detail: Any = json.loads(alert.detail) if alert.detail else {}
    return AlertPublic(
        id=alert.id,
        rule=alert.rule,
        rule_label=RULE_LABELS.get(alert.rule, alert.rule),
        reason=alert.reason,
        detail=detail if isinstance(detail, dict) else {"value": detail},
        status=alert.status,
        status_label=STATUS_LABELS.get(alert.status, alert.status),
        monitor_id=monitor_id,
        order_id=order_id,
        platform=platform,
        entity_id=alert.entity_id,
        evidence_id=alert.evidence_id,
        evidence_url=f"/v1/evidence/{alert.evidence_id}" if alert.evidence_id else None,
        case=case_number,
        case_id=alert.case_id,
        recipient=alert.recipient,
        created_at=alert.created_at,
        updated_at=alert.updated_at,
    )


def list_alerts(
    session: Session,
    flt: AlertFilter,
    *,
    limit: int,
    cursor: str | None,
    principal: Principal | None = None,
) -> AlertPage:
    """Newest first; ``cursor`` continues after the last item of the previous page. With
    ``principal``, only the alerts in its jurisdiction (their monitor's or order's unit)."""
    flt = flt.checked()
    query = keyset(_rows(), Alert.seq, limit=limit, cursor=cursor)
    if principal is not None:
        query = query.where(jurisdiction.scope(principal, Alert.unit_id))
    if flt.rule is not None:
        query = query.where(Alert.rule == flt.rule)
    if flt.platform is not None:
        query = query.where(Platform.code == flt.platform)
    if flt.entity_id is not None:
        query = query.where(Alert.entity_id == flt.entity_id)
    if flt.status is not None:
        query = query.where(Alert.status == flt.status)
    if flt.monitor is not None:
        query = query.where(Monitor.id == flt.monitor)
    if flt.recipient is not None:
        query = query.where(Alert.recipient == flt.recipient)
    if flt.since is not None:
        query = query.where(Alert.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(Alert.created_at < flt.until)
    if flt.unit is not None:
        query = query.where(Alert.unit_id.in_(jurisdiction.units_under(flt.unit)))
    rows = list(session.execute(query).all())
    items = [_public(*row) for row in rows[:limit]]
    jurisdiction.label(
        session, [(item, row[0].unit_id) for item, row in zip(items, rows, strict=False)]
    )
    return AlertPage(items=items, next_cursor=cursor_after(rows, limit, lambda r: r[0].seq))


def _load(
    session: Session, alert_id: str, principal: Principal | None = None
) -> tuple[Alert, AlertPublic]:
    """Alert ``alert_id``; 404 when there is none or it is outside ``principal``'s reach."""
    row = session.execute(_rows().where(Alert.id == alert_id)).first()
    if row is None or not jurisdiction.reachable(session, principal, row[0].unit_id):
        raise NotFoundError(f"no alert {alert_id!r}")
    public = _public(*row)
    jurisdiction.label(session, [(public, row[0].unit_id)])
    return row[0], public


def _events(session: Session, alert: Alert) -> list[AlertEvent]:
    """The alert's state changes, oldest first."""
    return list(
        session.execute(
            select(AlertEvent).where(AlertEvent.alert_seq == alert.seq).order_by(AlertEvent.id)
        ).scalars()
    )


def _bundle(session: Session, origin: str, entry_id: str) -> Bundle:
    """The proof bundle of one ``alert`` entry."""
    conn = session.connection()
    record = get_entry(conn, entry_id)
    if record is None:  # pragma: no cover - the event and its entry commit together
        raise NotFoundError(f"no log entry {entry_id!r}")
    return bundle_for(conn, record, origin=origin)


def proofs_url(alert_id: str) -> str:
    return f"/v1/alerts/{alert_id}/proofs"


def get_alert(
    session: Session, origin: str, alert_id: str, principal: Principal | None = None
) -> AlertDetail:
    """The alert, its history (each change's log entry and its proof's status), and
    where its proof bundles are; ``origin`` names the log in the bundles."""
    alert, public = _load(session, alert_id, principal)
    history = [
        AlertEventPublic(
            id=e.id,
            from_status=e.from_status,
            to_status=e.to_status,
            label=STATUS_LABELS.get(e.to_status, e.to_status),
            at=e.at,
            actor=e.actor,
            note=e.note,
            entry_id=e.entry_id,
            leaf_hash=e.leaf_hash,
            proof_status=_bundle(session, origin, e.entry_id).status,
            proof_url=proofs_url(alert.id),
        )
        for e in _events(session, alert)
    ]
    return AlertDetail(**public.model_dump(), history=history, proofs_url=proofs_url(alert.id))


def alert_proofs(
    session: Session, origin: str, alert_id: str, principal: Principal | None = None
) -> AlertProofs:
    """The proof bundle of every ``alert`` entry of the alert, oldest first."""
    alert, _ = _load(session, alert_id, principal)
    entries = [
        AlertEntryProof(
            event_id=e.id,
            to_status=e.to_status,
            entry_id=e.entry_id,
            bundle=_bundle(session, origin, e.entry_id).model_dump(mode="json"),
        )
        for e in _events(session, alert)
    ]
    return AlertProofs(alert_id=alert.id, entries=entries)


def _move(session: Session, alert: Alert, to_status: str, now: datetime, **values: Any) -> None:
    """``open`` → ``to_status`` by a conditional UPDATE; 409 naming the status found."""
    if alert.status != ALERT_OPEN:
        raise _not_open(alert.id, alert.status)
    moved = session.execute(
        update(Alert)
        .where(Alert.seq == alert.seq, Alert.status == ALERT_OPEN)
        .values(status=to_status, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(alert)
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise _not_open(alert.id, alert.status)


def _not_open(alert_id: str, status: str) -> ConflictError:
    return ConflictError(
        f"alert {alert_id} is {status} ({STATUS_LABELS.get(status, status)}); only an open "
        f"alert ({STATUS_LABELS[ALERT_OPEN]}) can be dismissed or converted",
        field="status",
    )


def dismiss(
    ledger: AlertLedger, principal: Principal, origin: str, alert_id: str, body: DismissBody
) -> AlertDetail:
    """``open`` → ``dismissed`` with the officer's reason (the entry holds its digest)."""
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        alert, _ = _load(session, alert_id, principal)
        _move(session, alert, ALERT_DISMISSED, now)
        record_event(
            ledger,
            session,
            alert,
            from_status=ALERT_OPEN,
            to_status=ALERT_DISMISSED,
            actor=principal.pseudonym,
            at=now,
            note=body.reason,
        )
    ledger.queued(1)
    with ledger.transaction() as session:
        return get_alert(session, origin, alert_id)


def _target(session: Session, alert: Alert) -> str:
    """What the alert is about, in words, for a new case's title."""
    if alert.entity_id is not None:
        entity = session.get(TradingEntity, alert.entity_id)
        if entity is not None:
            return entity.shop_name
    if alert.monitor_seq is not None:
        monitor = session.get(Monitor, alert.monitor_seq)
        if monitor is not None:
            return monitor.name
    if alert.order_seq is not None:
        order = session.get(TakedownOrder, alert.order_seq)
        if order is not None:
            return f"下架通知 {order.id}"
    return alert.id


def _case_for(
    session: Session, principal: Principal, alert: Alert, body: ConvertBody, unit: str | None
) -> CaseFile:
    """The case named by ``case_number`` (422 if there is none in the caller's
    jurisdiction), or a new one in 线索 of the alert's unit (``unit``)."""
    if body.case_number is not None:
        row = session.execute(
            select(CaseFile).where(CaseFile.number == body.case_number)
        ).scalar_one_or_none()
        if row is None or not jurisdiction.reachable(session, principal, row.unit_id):
            raise InvalidInputError(
                f"case_number: no case numbered {body.case_number!r}", field="case_number"
            )
        return row
    label = RULE_LABELS.get(alert.rule, alert.rule).split(" ", 1)[0]
    title = body.title or f"{label}：{_target(session, alert)}"[:256]
    created = cases.create_case(
        session,
        principal,
        CaseCreate(
            number=CASE_PREFIX + alert.id, title=title, entity_id=alert.entity_id, unit=unit
        ),
    )
    return session.get_one(CaseFile, created.id)


def _link(
    session: Session, principal: Principal, case: CaseFile, alert: Alert, now: datetime
) -> None:
    """Link the alert's evidence to the case; the case's history names the alert (on the
    link's event, or on an ``updated`` event when the evidence was linked already)."""
    note = f"预警转线索 converted from alert {alert.id}"
    if alert.evidence_id is not None:
        done = cases.link_evidence(
            session, principal, case.id, EvidenceLink(evidence_ids=[alert.evidence_id])
        )
        if done.linked:  # its event is the newest (a case links an evidence item once)
            event = session.execute(
                select(CaseEvent)
                .where(
                    CaseEvent.case_id == case.id,
                    CaseEvent.kind == "evidence_linked",
                    CaseEvent.evidence_id == alert.evidence_id,
                )
                .order_by(CaseEvent.id.desc())
                .limit(1)
            ).scalar_one()
            event.note = note
            session.flush()
            return
    elif case.status == case_workflow.FINAL:  # as a link to a closed case would say
        raise ConflictError(
            f"case {case.number!r} is {case_workflow.describe(case.status)}; "
            "it can no longer be changed"
        )
    session.add(
        CaseEvent(case_id=case.id, kind="updated", actor=principal.pseudonym, at=now, note=note)
    )
    case.updated_at = now
    session.flush()


def convert(
    ledger: AlertLedger, principal: Principal, origin: str, alert_id: str, body: ConvertBody
) -> AlertDetail:
    """``open`` → ``converted``: the alert's evidence linked to the case (an existing one
    that is not closed, or a new 线索 for the alert's entity), the case recorded on the
    alert, and the change an ``alert`` entry whose body carries the case's id."""
    with ledger.transaction() as session:
        alert, public = _load(session, alert_id, principal)
        if alert.status != ALERT_OPEN:
            raise _not_open(alert.id, alert.status)
        case = _case_for(session, principal, alert, body, public.unit)
        now = datetime.now(UTC)
        _link(session, principal, case, alert, now)
        _move(session, alert, ALERT_CONVERTED, now, case_id=case.id)
        record_event(
            ledger,
            session,
            alert,
            from_status=ALERT_OPEN,
            to_status=ALERT_CONVERTED,
            actor=principal.pseudonym,
            at=now,
            note=body.note,
            body={"case_id": case.id},
        )
    ledger.queued(1)
    with ledger.transaction() as session:
        return get_alert(session, origin, alert_id)
