"""Reading takedown orders: the officers' listing and detail, history and proof bundles,
the re-captures after completion and the rulings on disputes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.core.auth import Principal
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.core.jurisdiction import label, reachable, scope, unit_in_reach, units_under
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.monitoring.models import TakedownCheck
from evidence_api.registry.models import Platform
from evidence_api.takedowns import workflow as wf
from evidence_api.takedowns.models import (
    TakedownEvent,
    TakedownOrder,
    WebhookAttempt,
    WebhookDelivery,
)
from evidence_api.takedowns.schemas import (
    AttemptPublic,
    CheckPublic,
    DeliveryPublic,
    EntryProof,
    EventPublic,
    OfficerOrder,
    RulingPublic,
    TakedownAssign,
    TakedownDetail,
    TakedownPage,
    TakedownProofs,
    TakedownPublic,
)
from evidence_api.takedowns.service import issued_deadline, load_order, order_content, public
from verifier.bundle import Bundle

MAX_PAGE = 200


def status_filter(value: str | None) -> str | None:
    """``value`` checked against the workflow's states (422 naming them)."""
    if value is None:
        return None
    try:
        return wf.parse_status(value).value
    except ValueError as exc:
        raise InvalidInputError(f"status: {exc}", field="status") from exc


def owned(session: Session, rows: Sequence[tuple[TakedownOrder, str]]) -> list[OfficerOrder]:
    """Orders as officers list them: :func:`publics` with each one's unit."""
    items = [OfficerOrder(**item.model_dump()) for item in publics(session, rows)]
    label(session, [(item, order.unit_id) for item, (order, _) in zip(items, rows, strict=True)])
    return items


def list_orders(
    session: Session,
    *,
    platform: str | None,
    status: str | None,
    case_number: str | None,
    limit: int,
    cursor: str | None,
    unit: str | None = None,
    principal: Principal | None = None,
) -> TakedownPage:
    """Newest first; ``cursor`` continues after the last item of the previous page. With
    ``principal``, only the orders in its jurisdiction; ``unit`` (a code) keeps those of
    that unit and the units below it."""
    wanted = status_filter(status)
    query = keyset(
        select(TakedownOrder, Platform.code).join(
            Platform, Platform.id == TakedownOrder.platform_id
        ),
        TakedownOrder.seq,
        limit=limit,
        cursor=cursor,
    )
    if platform is not None:
        query = query.where(Platform.code == platform)
    if wanted is not None:
        query = query.where(TakedownOrder.status == wanted)
    if case_number is not None:
        query = query.where(TakedownOrder.case_number == case_number)
    if principal is not None:
        query = query.where(scope(principal, TakedownOrder.unit_id))
    if unit is not None:
        query = query.where(TakedownOrder.unit_id.in_(units_under(unit)))
    rows = list(session.execute(query).all())
    items = owned(session, [(order, code) for order, code in rows[:limit]])
    next_cursor = cursor_after(rows, limit, lambda r: r[0].seq)
    return TakedownPage(items=items, next_cursor=next_cursor)


def _entry_body(conn: Connection, entry_id: str) -> dict[str, Any]:
    record = get_entry(conn, entry_id)
    if record is None:  # pragma: no cover - the event and its entry commit together
        raise NotFoundError(f"no log entry {entry_id!r}")
    body = json.loads(record.entry_json).get("body", {})
    return body if isinstance(body, dict) else {}


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None


def rulings(session: Session, orders: Sequence[TakedownOrder]) -> dict[int, RulingPublic]:
    """The latest ruling of each order that has one (by order seq), in one query (plus
    one entry read per ruling, for the deadline it set)."""
    if not orders:
        return {}
    latest: dict[int, TakedownEvent] = {}
    for event in session.execute(
        select(TakedownEvent)
        .where(
            TakedownEvent.order_seq.in_([o.seq for o in orders]),
            TakedownEvent.from_status == wf.Status.DISPUTED.value,
        )
        .order_by(TakedownEvent.change_seq)
    ).scalars():
        latest[event.order_seq] = event
    found: dict[int, RulingPublic] = {}
    conn = session.connection()
    for order_seq, event in latest.items():
        decision = wf.ruling_of(event.from_status, event.to_status)
        if decision is None:  # pragma: no cover - a change out of disputed is a ruling
            continue
        found[order_seq] = RulingPublic(
            decision=decision.value,
            label=wf.ACTION_LABELS[decision],
            reason=event.note or "",
            deadline=_moment(_entry_body(conn, event.entry_id).get("deadline")),
            at=event.at,
            change_seq=event.change_seq,
            entry_id=event.entry_id,
        )
    return found


def publics(session: Session, rows: Sequence[tuple[TakedownOrder, str]]) -> list[TakedownPublic]:
    """Orders as listed (feed, list), each with its latest ruling."""
    found = rulings(session, [order for order, _ in rows])
    return [public(order, code, ruling=found.get(order.seq)) for order, code in rows]


def _events(session: Session, order: TakedownOrder) -> list[TakedownEvent]:
    """The order's state changes, oldest first."""
    return list(
        session.execute(
            select(TakedownEvent)
            .where(TakedownEvent.order_seq == order.seq)
            .order_by(TakedownEvent.change_seq)
        ).scalars()
    )


def _bundle(conn: Connection, origin: str, entry_id: str) -> Bundle:
    """The proof bundle of a state change's ``takedown`` entry."""
    record = get_entry(conn, entry_id)
    if record is None:  # pragma: no cover - the event and its entry commit together
        raise NotFoundError(f"no log entry {entry_id!r}")
    return bundle_for(conn, record, origin=origin)


def history(
    session: Session, origin: str, order: TakedownOrder, *, proof_status: bool
) -> list[EventPublic]:
    """The order's changes, oldest first, each with what its entry body says beyond the
    states: a re-capture's result (check, evidence, URL, delay), a ruling's decision, the
    deadline a change set."""
    events = _events(session, order)
    conn = session.connection()
    urls: dict[int | None, str] = dict(
        session.execute(
            select(TakedownCheck.event_id, TakedownCheck.url).where(
                TakedownCheck.order_seq == order.seq, TakedownCheck.event_id.is_not(None)
            )
        ).all()
    )
    items = []
    for e in events:
        body = _entry_body(conn, e.entry_id)
        decision = wf.ruling_of(e.from_status, e.to_status)
        items.append(
            EventPublic(
                change_seq=e.change_seq,
                from_status=e.from_status,
                to_status=e.to_status,
                label=wf.LABELS[wf.Status(e.to_status)],
                at=e.at,
                actor=e.actor,
                note=e.note,
                removed_at=e.removed_at if e.removed_at else None,
                entry_id=e.entry_id,
                leaf_hash=e.leaf_hash,
                proof_status=_bundle(conn, origin, e.entry_id).status if proof_status else None,
                check=body.get("check"),
                evidence_id=body.get("evidence_id"),
                url=urls.get(e.id),
                delay_seconds=body.get("delay_seconds"),
                decision=decision.value if decision else None,
                deadline=_moment(body.get("deadline")),
            )
        )
    return items


def checks(session: Session, order: TakedownOrder) -> list[CheckPublic]:
    """The order's re-captures, by round, due time and URL (officer view)."""
    seqs: dict[int, int] = dict(
        session.execute(
            select(TakedownEvent.id, TakedownEvent.change_seq).where(
                TakedownEvent.order_seq == order.seq
            )
        ).all()
    )
    rows = session.execute(
        select(TakedownCheck)
        .where(TakedownCheck.order_seq == order.seq)
        .order_by(TakedownCheck.round, TakedownCheck.due_at, TakedownCheck.id)
    ).scalars()
    return [
        CheckPublic(
            check_id=c.id,
            round=c.round,
            url=c.url,
            delay_seconds=c.delay_seconds,
            due_at=c.due_at,
            status=c.status,
            attempts=c.attempts,
            finished_at=c.finished_at,
            evidence_id=c.evidence_id,
            change_seq=seqs.get(c.event_id) if c.event_id is not None else None,
            reason=c.reason,
        )
        for c in rows
    ]


def deliveries(session: Session, order: TakedownOrder) -> list[DeliveryPublic]:
    rows = list(
        session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.order_seq == order.seq)
            .order_by(WebhookDelivery.seq)
        ).scalars()
    )
    attempts: dict[int, list[AttemptPublic]] = {r.seq: [] for r in rows}
    if rows:
        for a in session.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_seq.in_(list(attempts)))
            .order_by(WebhookAttempt.delivery_seq, WebhookAttempt.number)
        ).scalars():
            attempts[a.delivery_seq].append(
                AttemptPublic(
                    number=a.number,
                    at=a.at,
                    status_code=a.status_code,
                    error=a.error,
                    duration_ms=a.duration_ms,
                )
            )
    return [
        DeliveryPublic(
            delivery_id=r.id,
            event=r.event,
            state=r.state,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            delivered_at=r.delivered_at if r.delivered_at else None,
            last_error=r.last_error,
            log=attempts[r.seq],
        )
        for r in rows
    ]


def assign_order(
    session: Session, principal: Principal, order_id: str, body: TakedownAssign
) -> OfficerOrder:
    """Give the order to unit ``body.unit``: the caller must reach the order (404) and the
    unit (422); a superior unit assigns an order to a unit below it."""
    order, platform = load_order(session, order_id)
    if not reachable(session, principal, order.unit_id):
        raise NotFoundError(f"no takedown order {order_id!r}")
    order.unit_id = unit_in_reach(session, principal, body.unit)
    session.flush()
    return owned(session, [(order, platform.code)])[0]


def order_detail(
    session: Session, origin: str, order_id: str, principal: Principal | None = None
) -> TakedownDetail:
    """The officer's view: state, what the issuance hash covers, history, deliveries;
    ``origin`` names the log in the proof bundles. 404 outside ``principal``'s reach."""
    order, platform = load_order(session, order_id)
    if not reachable(session, principal, order.unit_id):
        raise NotFoundError(f"no takedown order {order_id!r}")
    base = owned(session, [(order, platform.code)])[0]
    # The checks before the history: on SQLite each read sees the latest commit (no
    # snapshot across statements), and a check and its event commit together, so read in
    # this order the history holds the event of every check shown finished.
    recaptures = checks(session, order)
    return TakedownDetail(
        **base.model_dump(),
        content=order_content(
            order, platform.code, issued_deadline=issued_deadline(session, order)
        ),
        history=history(session, origin, order, proof_status=True),
        checks=recaptures,
        deliveries=deliveries(session, order),
    )


def order_proofs(
    session: Session,
    origin: str,
    order_id: str,
    *,
    platform: str | None = None,
    principal: Principal | None = None,
) -> TakedownProofs:
    """The proof bundle of every ``takedown`` entry of the order (404 if not ``platform``'s,
    or outside ``principal``'s jurisdiction)."""
    order, owner = load_order(session, order_id)
    if (platform is not None and owner.code != platform) or not reachable(
        session, principal, order.unit_id
    ):
        raise NotFoundError(f"no takedown order {order_id!r}")
    conn = session.connection()
    entries = [
        EntryProof(
            change_seq=e.change_seq,
            to_status=e.to_status,
            entry_id=e.entry_id,
            bundle=_bundle(conn, origin, e.entry_id).model_dump(mode="json"),
        )
        for e in _events(session, order)
    ]
    return TakedownProofs(order_id=order_id, entries=entries)
