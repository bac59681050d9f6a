"""Reading takedown orders: the officers' listing and detail, history and proof bundles."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from anchoring.proofs import bundle_for
from anchoring.queue import get_entry
from evidence_api.core.errors import InvalidInputError, NotFoundError
from evidence_api.core.pagination import cursor_after, keyset
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
    DeliveryPublic,
    EntryProof,
    EventPublic,
    TakedownDetail,
    TakedownPage,
    TakedownProofs,
)
from evidence_api.takedowns.service import load_order, order_content, public
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


def list_orders(
    session: Session,
    *,
    platform: str | None,
    status: str | None,
    case_number: str | None,
    limit: int,
    cursor: str | None,
) -> TakedownPage:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
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
    rows = list(session.execute(query).all())
    items = [public(order, code) for order, code in rows[:limit]]
    next_cursor = cursor_after(rows, limit, lambda r: r[0].seq)
    return TakedownPage(items=items, next_cursor=next_cursor)


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
    events = _events(session, order)
    conn = session.connection()
    return [
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
        )
        for e in events
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


def order_detail(session: Session, origin: str, order_id: str) -> TakedownDetail:
    """The officer's view: state, what the issuance hash covers, history, deliveries;
    ``origin`` names the log in the proof bundles."""
    order, platform = load_order(session, order_id)
    base = public(order, platform.code)
    return TakedownDetail(
        **base.model_dump(),
        content=order_content(order, platform.code),
        history=history(session, origin, order, proof_status=True),
        deliveries=deliveries(session, order),
    )


def order_proofs(
    session: Session, origin: str, order_id: str, *, platform: str | None = None
) -> TakedownProofs:
    """The proof bundle of every ``takedown`` entry of the order (404 if not ``platform``'s)."""
    order, owner = load_order(session, order_id)
    if platform is not None and owner.code != platform:
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
