"""The serious-violator list (严重违法失信名单): placing, removing and expiring placements,
the officers' reads, the platforms' feed and acknowledgements (docs/violators.md).

Every change (placement, removal, expiry) happens in one transaction that

1. takes the feed lock and the change's number (:func:`next_seq`: ``UPDATE violator_feed
   … RETURNING``, held to commit), so changes commit in ``seq`` order and without gaps,
2. reads the placement (or the entity's active one) under that lock and checks the change,
3. writes the placement, a :class:`ViolatorChange`, its ``serious_violation`` log entry,
   one webhook delivery per platform with a webhook, and the credit record
   (``serious_listed`` / ``serious_removed`` through :func:`credit.records.add_record`,
   which regrades the entity).

So the list, the log, the feed and the credit records never disagree. Other features call
:func:`active_listing` and :func:`remove_for_repair` (credit repair) in their own
transactions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Table, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.core.auth import Principal
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import (
    label,
    owner_unit,
    reachable,
    require_jurisdiction,
    scope,
    units_under,
)
from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.core.models import OrgUnit
from evidence_api.core.pagination import cursor_after, keyset
from evidence_api.credit.records import add_record
from evidence_api.disclosure import record as disclosure_record
from evidence_api.disclosure.service import entry_bundle
from evidence_api.monitoring.observation import sha256_text
from evidence_api.registry.models import CaseFile, Platform, TradingEntity
from evidence_api.takedowns.service import Ledger, bump_feed
from evidence_api.violators import schemas as s
from evidence_api.violators.models import (
    SeriousViolation,
    ViolatorAck,
    ViolatorChange,
    ViolatorDelivery,
    ViolatorFeed,
)

#: The log entry kind of every change and acknowledgement, and its id prefix.
ENTRY_KIND = "serious_violation"
ENTRY_PREFIX = "svl"
SYSTEM_ACTOR = "system"
#: The feed lock's one row.
FEED_ROW = 1
#: How far ahead of the server's clock a start may be (clock skew), no more.
CLOCK_SKEW = timedelta(minutes=5)
#: A year of the period, as the statute counts it (365 days; three years: 1095 days).
YEAR = timedelta(days=365)
PUBLIC_API = "/v1/public/serious-violators"
#: Dates on the pages are Beijing time.
BEIJING = timezone(timedelta(hours=8))
PUBLIC_PAGE = "/public/serious-violators"


def listed_source(violation_id: str) -> str:
    """The ``serious_listed`` credit record's source."""
    return f"violation:{violation_id}"


def removed_source(violation_id: str) -> str:
    """The ``serious_removed`` credit record's source (removal, repair or expiry)."""
    return f"violation:{violation_id}/removed"


# --- the feed lock ----------------------------------------------------------------------


def next_seq(conn: Connection) -> int:
    """Lock the feed row until commit and return the next change's number."""
    feed = ViolatorFeed.__table__
    assert isinstance(feed, Table)
    return bump_feed(conn, feed, "id", FEED_ROW)


def high_water(session: Session) -> int:
    """The last committed change's number (0: none yet)."""
    found = session.execute(
        select(ViolatorFeed.last_seq).where(ViolatorFeed.id == FEED_ROW)
    ).scalar_one_or_none()
    return int(found or 0)


# --- recording a change -----------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    change: ViolatorChange
    entries: int


def _entity_source(entity: TradingEntity, platform: Platform) -> dict[str, Any]:
    return {
        "name": entity.shop_name,
        "uscc": entity.uscc,
        "platform": platform.code,
        "platform_id": platform.id,
        "shop_id": entity.shop_id,
        "shop_url": entity.shop_url,
    }


def feed_entity(source: dict[str, Any], reader_platform_id: int | None) -> s.FeedEntity:
    """The entity as one platform reads it: shop id and URL only if the shop is its own."""
    own = reader_platform_id is not None and source["platform_id"] == reader_platform_id
    return s.FeedEntity(
        name=source["name"],
        uscc=source["uscc"],
        platform=source["platform"],
        own=own,
        shop_id=source["shop_id"] if own else None,
        shop_url=source["shop_url"] if own else None,
    )


def _payload(
    delivery_id: str,
    change: ViolatorChange,
    row: SeriousViolation,
    entity: dict[str, Any],
    platform: Platform,
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id,
        "event": f"serious_violation.{change.kind}",
        "seq": change.seq,
        "kind": change.kind,
        "violation_id": row.id,
        "entity": feed_entity(entity, platform.id).model_dump(),
        "legal_basis": row.legal_basis,
        "listed_from": utc_timestamp(row.listed_from),
        "listed_until": utc_timestamp(row.listed_until),
        "at": utc_timestamp(change.at),
        "entry_id": change.entry_id,
        "feed_url": f"/v1/platform/serious-violators/feed?cursor={change.seq - 1}",
        "ack_url": f"/v1/platform/serious-violators/changes/{change.seq}/ack",
    }


def _record_change(
    session: Session,
    sign_receipt: SignReceipt,
    row: SeriousViolation,
    *,
    seq: int,
    kind: str,
    actor: str,
    at: datetime,
    body: dict[str, Any],
) -> ViolatorChange:
    """The change row, its entry and the webhook deliveries (the caller's transaction)."""
    entry_body = {"action": kind, "violation_id": row.id, "change": seq, **body, "actor": actor}
    entry, leaf = record_entry(session, sign_receipt, ENTRY_KIND, ENTRY_PREFIX, entry_body, at)
    change = ViolatorChange(
        seq=seq,
        violation_seq=row.seq,
        kind=kind,
        at=at,
        actor=actor,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    )
    session.add(change)
    row.change_seq = seq
    row.updated_at = at
    session.flush()
    entity = session.get_one(TradingEntity, row.entity_id)
    source = _entity_source(entity, session.get_one(Platform, entity.platform_id))
    hooked = session.execute(
        select(Platform).where(
            Platform.webhook_enabled.is_(True),
            Platform.webhook_url.is_not(None),
            Platform.webhook_secret.is_not(None),
        )
    ).scalars()
    for platform in hooked:
        delivery_id = new_id("dl")
        payload = _payload(delivery_id, change, row, source, platform)
        session.add(
            ViolatorDelivery(
                id=delivery_id,
                platform_id=platform.id,
                change_seq=seq,
                event=payload["event"],
                payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                state="pending",
                attempts=0,
                next_attempt_at=at,
                created_at=at,
            )
        )
    session.flush()
    return change


def _end(
    session: Session,
    sign_receipt: SignReceipt,
    violation_seq: int,
    *,
    kind: str,
    actor: str,
    at: datetime,
    reason: str | None,
    repair_id: str | None = None,
) -> tuple[SeriousViolation, int]:
    """End a listed placement (``removed`` or ``expired``): the change and the
    ``serious_removed`` record. The feed lock is taken first (on SQLite the write lock, so
    no read of the transaction predates it), then the placement is read under it.
    Returns the placement and the entries queued."""
    seq = next_seq(session.connection())
    row = session.get_one(SeriousViolation, violation_seq, populate_existing=True)
    if row.status != s.LISTED:
        raise ConflictError(
            f"placement {row.id} is {row.status} ({s.STATUS_LABELS[row.status]}), not listed",
            field="status",
        )
    row.status = kind
    body: dict[str, Any] = {"entity_id": row.entity_id}
    details: dict[str, Any] = {"violation_id": row.id}
    if kind == s.REMOVED:
        row.removed_at, row.removed_by, row.removal_reason = at, actor, reason
        row.repair_id = repair_id
        if reason is not None:
            body["reason_sha256"] = sha256_text(reason)
        if repair_id is not None:
            body["repair_id"] = repair_id
        details |= {"reason": "repair" if repair_id else "removed"}
        if repair_id is not None:
            details["repair_id"] = repair_id
    else:
        body["listed_until"] = utc_timestamp(row.listed_until)
        details |= {"reason": "expired"}
    _record_change(session, sign_receipt, row, seq=seq, kind=kind, actor=actor, at=at, body=body)
    added = add_record(
        session,
        sign_receipt,
        entity_id=row.entity_id,
        kind="serious_removed",
        source=removed_source(row.id),
        occurred_at=at,
        details=details,
        actor=actor,
        at=at,
    )
    return row, 1 + (2 if added is not None else 0)


# --- what other features call -----------------------------------------------------------


def active_listing(session: Session, entity_id: int) -> SeriousViolation | None:
    """The entity's current placement (status ``listed``), if any."""
    return session.execute(
        select(SeriousViolation)
        .where(SeriousViolation.entity_id == entity_id, SeriousViolation.status == s.LISTED)
        .order_by(SeriousViolation.seq.desc())
        .limit(1)
    ).scalar_one_or_none()


def remove_for_repair(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    violation_id: str,
    repair_id: str,
    actor: str,
    at: datetime,
) -> SeriousViolation:
    """Remove a placement because credit repair ``repair_id`` was accepted: status
    ``removed``, a feed change, a ``serious_removed`` credit record, in the caller's
    transaction. The caller commits and nudges the sealer. 404 for an unknown placement,
    409 for one not listed."""
    found = session.execute(
        select(SeriousViolation.seq).where(SeriousViolation.id == violation_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no serious-violator placement {violation_id!r}")
    row, _ = _end(
        session,
        sign_receipt,
        found,
        kind=s.REMOVED,
        actor=actor,
        at=at,
        reason=f"信用修复 {repair_id}",
        repair_id=repair_id,
    )
    return row


# --- officers -----------------------------------------------------------------------------


def _utc(value: datetime, field: str) -> datetime:
    """``value`` in UTC (a time without a zone is read as UTC); 422 beyond year 9999."""
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInputError(f"{field}: out of range", field=field) from exc


def _period(body: s.PlacementCreate, now: datetime) -> tuple[datetime, datetime]:
    start = _utc(body.listed_from or now, "listed_from")
    if start > now + CLOCK_SKEW:
        raise InvalidInputError("listed_from: must not be in the future", field="listed_from")
    start = min(start, now)
    if start < now - s.MAX_YEARS * YEAR:
        raise InvalidInputError(
            f"listed_from: more than {s.MAX_YEARS} years ago", field="listed_from"
        )
    if body.listed_until is not None and body.years is not None:
        raise InvalidInputError(
            "listed_until: give either listed_until or years, not both", field="listed_until"
        )
    if body.listed_until is not None:
        end = _utc(body.listed_until, "listed_until")
    else:
        end = start + (body.years or s.MAX_YEARS) * YEAR
    if end <= now:
        raise InvalidInputError("listed_until: the period is already over", field="listed_until")
    if end > start + s.MAX_YEARS * YEAR:
        raise InvalidInputError(
            f"listed_until: a period is at most {s.MAX_YEARS} years (1095 days) from listed_from",
            field="listed_until",
        )
    return start, end


def _references(
    session: Session, principal: Principal, body: s.PlacementCreate
) -> tuple[TradingEntity, int | None]:
    entity = session.get(TradingEntity, body.entity_id)
    if entity is None or not reachable(session, principal, entity.unit_id):
        raise InvalidInputError(
            f"entity_id: no entity {body.entity_id} in your jurisdiction", field="entity_id"
        )
    if body.case_id is not None:
        case = session.get(CaseFile, body.case_id)
        if case is None or not reachable(session, principal, case.unit_id):
            raise InvalidInputError(f"case_id: no case {body.case_id}", field="case_id")
        if case.entity_id is not None and case.entity_id != entity.id:
            raise InvalidInputError(
                f"case_id: case {body.case_id} concerns another entity", field="case_id"
            )
    return entity, owner_unit(session, principal, body.unit)


def place(ledger: Ledger, principal: Principal, body: s.PlacementCreate) -> s.ViolationDetail:
    """Place an entity on the list (status ``listed``): the placement, its feed change and
    entry, the deliveries and the ``serious_listed`` record, in one transaction. 422 for
    bad references or period, 409 when the entity already has an active placement."""
    now = datetime.now(UTC)
    start, end = _period(body, now)
    with ledger.transaction() as session:
        entity, unit_id = _references(session, principal, body)
        entity_id = entity.id
    with ledger.transaction() as session:
        seq = next_seq(session.connection())
        current = active_listing(session, entity_id)  # under the lock: no race
        if current is not None:
            raise ConflictError(
                f"entity {entity_id} is already listed as {current.id} until "
                f"{utc_timestamp(current.listed_until)}",
                field="entity_id",
            )
        entity = session.get_one(TradingEntity, entity_id)
        row = SeriousViolation(
            id=new_id("sv"),
            entity_id=entity_id,
            unit_id=unit_id,
            status=s.LISTED,
            legal_basis=body.legal_basis,
            reason=body.reason,
            case_id=body.case_id,
            listed_from=start,
            listed_until=end,
            placed_by=principal.pseudonym,
            change_seq=seq,
            entry_id="",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        entry_body: dict[str, Any] = {
            "entity_id": entity_id,
            "legal_basis": body.legal_basis,
            "reason_sha256": sha256_text(body.reason),
            "listed_from": utc_timestamp(start),
            "listed_until": utc_timestamp(end),
        }
        if entity.uscc:
            entry_body["entity_uscc"] = entity.uscc
        if body.case_id is not None:
            entry_body["case_id"] = body.case_id
        change = _record_change(
            session,
            ledger.sign_receipt,
            row,
            seq=seq,
            kind=s.LISTED,
            actor=principal.pseudonym,
            at=now,
            body=entry_body,
        )
        row.entry_id = change.entry_id
        add_record(
            session,
            ledger.sign_receipt,
            entity_id=entity_id,
            kind="serious_listed",
            source=listed_source(row.id),
            occurred_at=now,
            details={
                "violation_id": row.id,
                "legal_basis": body.legal_basis,
                "listed_from": utc_timestamp(start),
                "listed_until": utc_timestamp(end),
            },
            actor=principal.pseudonym,
            at=now,
        )
        result = detail(session, row)
    ledger.queued(3)
    return result


def load(session: Session, principal: Principal, violation_id: str) -> SeriousViolation:
    """The placement, if in the caller's jurisdiction; 404 otherwise."""
    row = session.execute(
        select(SeriousViolation).where(SeriousViolation.id == violation_id)
    ).scalar_one_or_none()
    missing = f"no serious-violator placement {violation_id!r}"
    if row is None:
        raise NotFoundError(missing)
    require_jurisdiction(session, principal, row.unit_id, missing)
    return row


def remove(
    ledger: Ledger, principal: Principal, violation_id: str, body: s.RemoveBody
) -> s.ViolationDetail:
    """listed → removed by an officer's decision, with the reason; 409 if not listed."""
    now = datetime.now(UTC)
    with ledger.transaction() as session:
        violation_seq = load(session, principal, violation_id).seq
    with ledger.transaction() as session:
        row, entries = _end(
            session,
            ledger.sign_receipt,
            violation_seq,
            kind=s.REMOVED,
            actor=principal.pseudonym,
            at=now,
            reason=body.reason,
        )
        result = detail(session, row)
    ledger.queued(entries)
    return result


def expire_due(ledger: Ledger, *, now: datetime | None = None, limit: int = 500) -> int:
    """Expire every listed placement whose ``listed_until`` has passed (one transaction
    each); returns how many expired."""
    at = now or datetime.now(UTC)
    with ledger.transaction() as session:
        due = list(
            session.execute(
                select(SeriousViolation.seq)
                .where(SeriousViolation.status == s.LISTED, SeriousViolation.listed_until <= at)
                .order_by(SeriousViolation.listed_until, SeriousViolation.seq)
                .limit(limit)
            ).scalars()
        )
    done = 0
    for seq in due:
        try:
            with ledger.transaction() as session:
                _, entries = _end(
                    session,
                    ledger.sign_receipt,
                    seq,
                    kind=s.EXPIRED,
                    actor=SYSTEM_ACTOR,
                    at=at,
                    reason=None,
                )
        except ConflictError:  # removed meanwhile
            continue
        ledger.queued(entries)
        done += 1
    return done


# --- officers' reads ----------------------------------------------------------------------


def _entities(session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = session.execute(
        select(TradingEntity, Platform)
        .join(Platform, Platform.id == TradingEntity.platform_id)
        .where(TradingEntity.id.in_(ids))
    ).all()
    return {e.id: _entity_source(e, p) for e, p in rows}


def _view(row: SeriousViolation, entity: dict[str, Any]) -> s.Violation:
    return s.Violation(
        violation_id=row.id,
        status=row.status,
        status_label=s.STATUS_LABELS[row.status],
        entity=s.EntityRef(
            id=row.entity_id,
            name=entity["name"],
            uscc=entity["uscc"],
            platform=entity["platform"],
            shop_id=entity["shop_id"],
            shop_url=entity["shop_url"],
        ),
        legal_basis=row.legal_basis,
        reason=row.reason,
        case_id=row.case_id,
        listed_from=row.listed_from,
        listed_until=row.listed_until,
        placed_by=row.placed_by,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
        removal_reason=row.removal_reason,
        repair_id=row.repair_id,
        change_seq=row.change_seq,
        entry_id=row.entry_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        public_url=f"{PUBLIC_PAGE}/{row.id}" if row.status == s.LISTED else None,
    )


def detail(session: Session, row: SeriousViolation) -> s.ViolationDetail:
    """The placement with its changes and, for each, the platforms that acknowledged it."""
    entity = _entities(session, {row.entity_id})[row.entity_id]
    changes = list(
        session.execute(
            select(ViolatorChange)
            .where(ViolatorChange.violation_seq == row.seq)
            .order_by(ViolatorChange.seq)
        ).scalars()
    )
    acks: dict[int, list[s.AckView]] = {}
    if changes:
        found = session.execute(
            select(ViolatorAck, Platform.code)
            .join(Platform, Platform.id == ViolatorAck.platform_id)
            .where(ViolatorAck.change_seq.in_([c.seq for c in changes]))
            .order_by(ViolatorAck.id)
        ).all()
        for ack, code in found:
            acks.setdefault(ack.change_seq, []).append(_ack_view(ack, code))
    base = _view(row, entity)
    result = s.ViolationDetail(
        **base.model_dump(),
        changes=[
            s.ChangeView(
                seq=c.seq,
                kind=c.kind,
                kind_label=s.CHANGE_LABELS[c.kind],
                at=c.at,
                actor=c.actor,
                entry_id=c.entry_id,
                leaf_hash=c.leaf_hash,
                acks=acks.get(c.seq, []),
            )
            for c in changes
        ],
    )
    label(session, [(result, row.unit_id)])
    return result


def list_violations(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    entity_id: int | None,
    unit: str | None,
    limit: int,
    cursor: str | None,
) -> s.ViolationPage:
    """Newest first: the placements in the caller's jurisdiction."""
    if status is not None and status not in s.STATUS_LABELS:
        raise InvalidInputError(f"status: one of {', '.join(s.STATUS_LABELS)}", field="status")
    query = select(SeriousViolation).where(scope(principal, SeriousViolation.unit_id))
    if status is not None:
        query = query.where(SeriousViolation.status == status)
    if entity_id is not None:
        query = query.where(SeriousViolation.entity_id == entity_id)
    if unit is not None:
        query = query.where(SeriousViolation.unit_id.in_(units_under(unit)))
    rows = list(
        session.execute(keyset(query, SeriousViolation.seq, limit=limit, cursor=cursor)).scalars()
    )
    entities = _entities(session, {r.entity_id for r in rows[:limit]})
    items = [_view(r, entities[r.entity_id]) for r in rows[:limit]]
    label(session, [(item, r.unit_id) for item, r in zip(items, rows, strict=False)])
    return s.ViolationPage(items=items, next_cursor=cursor_after(rows, limit, lambda r: r.seq))


# --- platforms ----------------------------------------------------------------------------


def _platform_id(session: Session, principal: Principal) -> int:
    found = session.execute(
        select(Platform.id).where(Platform.code == principal.platform)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no platform {principal.platform!r}")
    return int(found)


def feed(session: Session, principal: Principal, *, cursor: int, limit: int) -> s.FeedPage:
    """The changes after ``cursor``, oldest first; none is skipped, whatever commits
    concurrently: the high-water mark is read *before* the changes, and every change
    numbered up to it has committed by then (the lock makes changes commit in order)."""
    platform_id = _platform_id(session, principal)
    high = high_water(session)
    if high <= cursor:
        return s.FeedPage(items=[], next_cursor=cursor, more=False)
    rows = session.execute(
        select(ViolatorChange, SeriousViolation)
        .join(SeriousViolation, SeriousViolation.seq == ViolatorChange.violation_seq)
        .where(ViolatorChange.seq > cursor, ViolatorChange.seq <= high)
        .order_by(ViolatorChange.seq)
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    entities = _entities(session, {v.entity_id for _, v in page})
    acked = set(
        session.execute(
            select(ViolatorAck.change_seq).where(
                ViolatorAck.platform_id == platform_id,
                ViolatorAck.change_seq.in_([c.seq for c, _ in page]),
            )
        ).scalars()
    )
    items = [
        s.FeedChange(
            seq=c.seq,
            kind=c.kind,
            kind_label=s.CHANGE_LABELS[c.kind],
            violation_id=v.id,
            entity=feed_entity(entities[v.entity_id], platform_id),
            legal_basis=v.legal_basis,
            listed_from=v.listed_from,
            listed_until=v.listed_until,
            at=c.at,
            entry_id=c.entry_id,
            acknowledged=c.seq in acked,
        )
        for c, v in page
    ]
    more = len(rows) > limit
    return s.FeedPage(items=items, next_cursor=page[-1][0].seq if more else high, more=more)


def _ack_view(ack: ViolatorAck, code: str) -> s.AckView:
    measures = list(json.loads(ack.measures))
    return s.AckView(
        platform=code,
        measures=measures,
        measure_labels=s.labels_of(measures),
        note=ack.note,
        at=ack.at,
        entry_id=ack.entry_id,
    )


def _ack_result(ack: ViolatorAck, code: str, violation_id: str, created: bool) -> s.AckResult:
    return s.AckResult(
        **_ack_view(ack, code).model_dump(),
        seq=ack.change_seq,
        violation_id=violation_id,
        created=created,
    )


def acknowledge(ledger: Ledger, principal: Principal, seq: int, body: s.AckBody) -> s.AckResult:
    """Record the platform's measures for change ``seq`` (an ``ack`` entry), once per
    platform and change: the same acknowledgement again answers the recorded one
    (``created`` false); different measures or note then are 409. 404 for a seq not in
    the feed."""
    now = datetime.now(UTC)
    code = principal.platform or ""

    def existing(session: Session, platform_id: int) -> ViolatorAck | None:
        return session.execute(
            select(ViolatorAck).where(
                ViolatorAck.change_seq == seq, ViolatorAck.platform_id == platform_id
            )
        ).scalar_one_or_none()

    def repeated(ack: ViolatorAck, violation_id: str) -> s.AckResult:
        if json.loads(ack.measures) != body.measures or ack.note != body.note:
            raise ConflictError(
                f"change {seq} was already acknowledged with other measures or note",
                field="measures",
            )
        return _ack_result(ack, code, violation_id, created=False)

    try:
        with ledger.transaction() as session:
            platform_id = _platform_id(session, principal)
            found = session.execute(
                select(ViolatorChange, SeriousViolation.id)
                .join(SeriousViolation, SeriousViolation.seq == ViolatorChange.violation_seq)
                .where(ViolatorChange.seq == seq)
            ).first()
            if found is None:
                raise NotFoundError(f"no change {seq} in the serious-violator feed")
            change, violation_id = found
            ack = existing(session, platform_id)
            if ack is not None:
                return repeated(ack, violation_id)
            entry_body: dict[str, Any] = {
                "action": "ack",
                "violation_id": violation_id,
                "change": seq,
                "platform": code,
                "measures": body.measures,
                "actor": principal.pseudonym,
            }
            if body.note is not None:
                entry_body["note_sha256"] = sha256_text(body.note)
            entry, _ = record_entry(
                session, ledger.sign_receipt, ENTRY_KIND, ENTRY_PREFIX, entry_body, now
            )
            ack = ViolatorAck(
                change_seq=change.seq,
                platform_id=platform_id,
                measures=json.dumps(body.measures),
                note=body.note,
                actor=principal.pseudonym,
                at=now,
                entry_id=entry.id,
            )
            session.add(ack)
            session.flush()
            result = _ack_result(ack, code, violation_id, created=True)
    except IntegrityError:  # a concurrent acknowledgement of the same change won
        with ledger.transaction() as session:
            platform_id = _platform_id(session, principal)
            ack = existing(session, platform_id)
            violation_id = session.execute(
                select(SeriousViolation.id)
                .join(ViolatorChange, ViolatorChange.violation_seq == SeriousViolation.seq)
                .where(ViolatorChange.seq == seq)
            ).scalar_one()
            if ack is None:  # pragma: no cover - the unique key is the only conflict
                raise
            return repeated(ack, violation_id)
    ledger.queued(1)
    return result


def proofs(session: Session, origin: str, row: SeriousViolation) -> s.ViolationProofs:
    """The evidence-proof/v1 bundle of every entry of the placement (pending, sealed or
    anchored): each change, then its acknowledgements, in feed order."""
    conn = session.connection()
    changes = session.execute(
        select(ViolatorChange)
        .where(ViolatorChange.violation_seq == row.seq)
        .order_by(ViolatorChange.seq)
    ).scalars()
    entries: list[s.EntryProof] = []
    for change in changes:
        bundle = entry_bundle(conn, origin, change.entry_id).model_dump(mode="json")
        entries.append(
            s.EntryProof(
                action=change.kind,
                seq=change.seq,
                platform=None,
                entry_id=change.entry_id,
                bundle=bundle,
            )
        )
        acks = session.execute(
            select(ViolatorAck.entry_id, Platform.code)
            .join(Platform, Platform.id == ViolatorAck.platform_id)
            .where(ViolatorAck.change_seq == change.seq)
            .order_by(ViolatorAck.id)
        ).all()
        for entry_id, code in acks:
            bundle = entry_bundle(conn, origin, entry_id).model_dump(mode="json")
            entries.append(
                s.EntryProof(
                    action="ack", seq=change.seq, platform=code, entry_id=entry_id, bundle=bundle
                )
            )
    return s.ViolationProofs(violation_id=row.id, entries=entries)


# --- the public -----------------------------------------------------------------------------


def _published(at: datetime) -> Any:
    """The publication rule: listed, and its period running."""
    return (SeriousViolation.status == s.LISTED) & (SeriousViolation.listed_until > at)


def _public_source(
    row: SeriousViolation, entity: dict[str, Any], unit_name: str | None
) -> dict[str, Any]:
    return {
        "violation_id": row.id,
        "entity_name": entity["name"],
        "entity_uscc": entity["uscc"],
        "legal_basis": row.legal_basis,
        "reason": row.reason,
        "deciding_unit": unit_name,
        "listed_from": row.listed_from,
        "listed_until": row.listed_until,
        "url": f"{PUBLIC_API}/{row.id}",
        "platform_name": entity["platform_name"],
        "entry_id": row.entry_id,
    }


def _public_rows(session: Session, rows: Sequence[SeriousViolation]) -> list[dict[str, Any]]:
    ids = {r.entity_id for r in rows}
    entities: dict[int, dict[str, Any]] = {}
    if ids:
        for e, p in session.execute(
            select(TradingEntity, Platform)
            .join(Platform, Platform.id == TradingEntity.platform_id)
            .where(TradingEntity.id.in_(ids))
        ).all():
            entities[e.id] = {"name": e.shop_name, "uscc": e.uscc, "platform_name": p.name}
    units = {
        int(i): str(n)
        for i, n in session.execute(
            select(OrgUnit.id, OrgUnit.name).where(
                OrgUnit.id.in_({r.unit_id for r in rows if r.unit_id is not None})
            )
        ).all()
    }
    return [
        _public_source(r, entities[r.entity_id], units.get(r.unit_id) if r.unit_id else None)
        for r in rows
    ]


def public_list(session: Session, q: str | None, offset: int, limit: int) -> s.PublicViolationPage:
    """Published placements, newest first; ``q``: the entity's name (part of it, any
    case) or its exact 统一社会信用代码."""
    search = disclosure_record.search(q, offset, limit)
    where = _published(datetime.now(UTC))
    query = select(SeriousViolation).join(
        TradingEntity, TradingEntity.id == SeriousViolation.entity_id
    )
    if search.text is not None:
        match = TradingEntity.shop_name.icontains(search.text, autoescape=True)
        if search.uscc is not None:
            match = or_(match, TradingEntity.uscc == search.uscc)
        where = where & match
    total = int(
        session.execute(
            select(func.count())
            .select_from(SeriousViolation)
            .join(TradingEntity, TradingEntity.id == SeriousViolation.entity_id)
            .where(where)
        ).scalar_one()
    )
    rows = list(
        session.execute(
            query.where(where)
            .order_by(SeriousViolation.listed_from.desc(), SeriousViolation.seq.desc())
            .offset(search.offset)
            .limit(search.limit)
        ).scalars()
    )
    items = [
        s.PublicViolation(**s.allowed(src, s.PUBLIC_FIELDS)) for src in _public_rows(session, rows)
    ]
    page = {"items": items, "total": total, "offset": offset, "limit": limit, "q": search.text}
    return s.PublicViolationPage(**s.allowed(page, s.PAGE_FIELDS))


def public_detail(session: Session, origin: str, violation_id: str) -> s.PublicViolationDetail:
    """One published placement and whether its entry is sealed or anchored yet (the bundle
    itself is not public: the entry names the officer's pseudonym); 404 for an unknown,
    removed or expired one."""
    row = session.execute(
        select(SeriousViolation).where(
            SeriousViolation.id == violation_id, _published(datetime.now(UTC))
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no published serious-violator placement {violation_id!r}")
    bundle = entry_bundle(session.connection(), origin, row.entry_id)
    source = _public_rows(session, [row])[0] | {"proof_status": bundle.status}
    return s.PublicViolationDetail(**s.allowed(source, s.PUBLIC_DETAIL_FIELDS))
