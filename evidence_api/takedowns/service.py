"""Takedown orders: issuing, changing state, listing and the officer's view.

Every change, issuance included, happens in one transaction that

1. takes the platform's feed lock and its next ``change_seq``
   (:func:`_next_change_seq`: ``UPDATE takedown_feed ... RETURNING``, held to commit),
2. reads the order's current state under that lock and asks
   :mod:`evidence_api.takedowns.workflow` whether the change is allowed,
3. writes the order, a :class:`TakedownEvent`, the ``takedown`` log entry (queued for
   the sealer with its signed receipt) and, when the platform has a webhook, the
   delivery to send.

So the log, the history and the feed can never disagree, and per platform the
feed commits in ``change_seq`` order (see :mod:`evidence_api.takedowns.models`).

A completion also schedules the re-captures of the listed URLs (one
:class:`~evidence_api.monitoring.models.TakedownCheck` per URL per configured delay, in
the completion's transaction); their results come back through :func:`record_check`,
the same path, in the transaction that keeps the re-capture as evidence. An officer's
ruling on a dispute (:func:`rule_dispute`) is a change like the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from anchoring.queue import get_entry
from evidence_api.core.auth import Principal
from evidence_api.core.db import Transaction
from evidence_api.core.errors import ConflictError, InvalidInputError, NotFoundError
from evidence_api.core.ids import new_id
from evidence_api.core.jurisdiction import label, owner_unit, reachable
from evidence_api.core.ledger import SignReceipt, record_entry
from evidence_api.credit import hooks as credit_hooks
from evidence_api.intake.service import require_evidence
from evidence_api.monitoring.models import CHECK_CANCELLED, CHECK_PENDING, TakedownCheck
from evidence_api.registry.models import CaseFile, Platform
from evidence_api.takedowns import workflow as wf
from evidence_api.takedowns.models import (
    TakedownEvent,
    TakedownEvidence,
    TakedownFeed,
    TakedownOrder,
    WebhookDelivery,
)
from evidence_api.takedowns.schemas import (
    OfficerOrder,
    RulingPublic,
    TakedownCreate,
    TakedownPublic,
)
from verifier.canonical import canonical_json

#: the actor of changes the service makes itself (overdue)
SYSTEM_ACTOR = "system"
MAX_DEADLINE_AHEAD = timedelta(days=366)
#: a removal time may be this far ahead of the server's clock (clock skew), no more
CLOCK_SKEW = timedelta(minutes=5)
#: the least time a reopened order gets (its new deadline: now + the order's original span)
MIN_REOPEN_SPAN = timedelta(hours=24)
#: the results of a re-capture (``check`` in the ``takedown`` entry's body)
REMOVAL_VERIFIED = "removal_verified"
REAPPEARED = "reappeared"
CHECKS = (REMOVAL_VERIFIED, REAPPEARED)


def to_millis(moment: datetime) -> datetime:
    """``moment`` cut to whole milliseconds: what a log entry states (``utc_timestamp``),
    so a deadline set by a change reads the same in the order and in its entry."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- content and views ------------------------------------------------------------------


def order_content(
    row: TakedownOrder, platform_code: str, *, issued_deadline: str | None = None
) -> dict[str, Any]:
    """What the issuance entry commits to: ``sha256(canonical_json(content))``.

    Shown as ``content`` in the order's views, so anyone holding the issuance
    entry's proof can recompute the digest from what the order says. A ruling or a
    reopening moves ``row.deadline``; ``issued_deadline`` (the issuance entry's, see
    :func:`issued_deadline`) keeps the content as it was issued.
    """
    return {
        "order_id": row.id,
        "platform": platform_code,
        "listing_urls": json.loads(row.listing_urls),
        "legal_basis": row.legal_basis,
        "reason": row.reason,
        "evidence_ids": [e.evidence_id for e in row.evidence],
        "deadline": issued_deadline or utc_timestamp(row.deadline),
        "grant_files": row.grant_files,
        "case_number": row.case_number,
        "issued_at": utc_timestamp(row.issued_at),
        "issued_by": row.issued_by,
    }


def content_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content)).hexdigest()


def issued_deadline(session: Session, order: TakedownOrder) -> str:
    """The deadline the order was issued with, as its issuance entry states it (the
    order's ``deadline`` column is the current one: a ruling or a reopening moves it)."""
    entry_id = session.execute(
        select(TakedownEvent.entry_id).where(
            TakedownEvent.order_seq == order.seq, TakedownEvent.from_status.is_(None)
        )
    ).scalar_one()
    record = get_entry(session.connection(), entry_id)
    if record is None:  # pragma: no cover - the event and its entry commit together
        raise NotFoundError(f"no log entry {entry_id!r}")
    return str(json.loads(record.entry_json)["body"]["deadline"])


def public(
    row: TakedownOrder, platform_code: str, *, ruling: RulingPublic | None = None
) -> TakedownPublic:
    status = wf.Status(row.status)
    return TakedownPublic(
        order_id=row.id,
        platform=platform_code,
        status=status.value,
        status_label=wf.LABELS[status],
        change_seq=row.change_seq,
        listing_urls=json.loads(row.listing_urls),
        legal_basis=row.legal_basis,
        reason=row.reason,
        evidence_ids=[e.evidence_id for e in row.evidence],
        deadline=row.deadline,
        grant_files=row.grant_files,
        case_number=row.case_number,
        issued_at=row.issued_at,
        issued_by=row.issued_by,
        updated_at=row.updated_at,
        content_sha256=row.content_sha256,
        allowed_actions=[a.value for a in wf.platform_actions(status)],
        ruling=ruling,
    )


# --- the feed lock ----------------------------------------------------------------------


def bump_feed(conn: Connection, feed: Table, key: str, value: int) -> int:
    """Lock the feed row whose ``key`` column is ``value`` until commit and return its next
    ``last_seq`` (the row is made at 0 first if missing). The takedowns' per-platform feeds
    and the serious-violator list's one feed (:func:`evidence_api.violators.service.next_seq`)
    count their changes through it.

    The increment is the transaction's first write, so on SQLite it takes the
    database's write lock (waiting out others) and on PostgreSQL the row lock;
    concurrent changes of one feed queue here and commit in seq order.
    """
    bump = (
        update(feed)
        .where(feed.c[key] == value)
        .values(last_seq=feed.c.last_seq + 1)
        .returning(feed.c.last_seq)
    )
    seq = conn.execute(bump).scalar_one_or_none()
    if seq is not None:
        return int(seq)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(feed)
        .values({key: value, "last_seq": 0})
        .on_conflict_do_nothing(index_elements=[key])
    )
    return int(conn.execute(bump).scalar_one())


def _next_change_seq(conn: Connection, platform_id: int) -> int:
    """Lock the platform's feed row until commit and return its next ``change_seq``."""
    feed = TakedownFeed.__table__
    assert isinstance(feed, Table)
    return bump_feed(conn, feed, "platform_id", platform_id)


# --- changes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One state change to record."""

    order: TakedownOrder
    platform: Platform
    change_seq: int
    from_status: wf.Status | None
    to_status: wf.Status
    at: datetime
    actor: str
    note: str | None = None
    removed_at: datetime | None = None
    #: extra fields of the entry body (digests of the order, note or reason)
    body: dict[str, Any] | None = None
    #: a re-capture's result (:data:`CHECKS`): the webhook's event is ``takedown.<check>``
    check: str | None = None


#: Opens a transaction: a session committed on success, rolled back on error.


@dataclass(frozen=True)
class Ledger:
    """What recording a state change uses: its own transactions (the feed lock is taken
    at the start of one), the receipt issuer, the sealer's nudge, and the delays (seconds
    after a completion) at which the listed URLs are captured again (none: never)."""

    transaction: Transaction
    sign_receipt: SignReceipt
    queued: Callable[[int], None]
    verify_delays: tuple[int, ...] = ()


@lru_cache(maxsize=8)
def verify_delays(text: str) -> tuple[int, ...]:
    """``settings.takedown_verify_delays`` parsed once per distinct value."""
    return wf.parse_delays(text)


def ledger_of(runtime: Any) -> Ledger:
    """The ledger out of a process's :class:`~evidence_api.core.runtime.Runtime`."""
    return Ledger(
        runtime.session,
        runtime.sign_receipt,
        runtime.queued,
        verify_delays(runtime.settings.takedown_verify_delays),
    )


def _record(ledger: Ledger, session: Session, change: Change) -> TakedownEvent:
    """Write the event, its ``takedown`` entry and the webhook delivery (same transaction)."""
    order = change.order
    body: dict[str, Any] = {
        "order_id": order.id,
        "platform": change.platform.code,
        "change": change.change_seq,
        "to": change.to_status.value,
        "actor": change.actor,
    }
    if change.from_status is not None:
        body["from"] = change.from_status.value
    body |= change.body or {}
    entry, leaf = record_entry(session, ledger.sign_receipt, "takedown", "tk", body, change.at)
    event = TakedownEvent(
        order_seq=order.seq,
        change_seq=change.change_seq,
        from_status=change.from_status.value if change.from_status else None,
        to_status=change.to_status.value,
        at=change.at,
        actor=change.actor,
        note=change.note,
        removed_at=change.removed_at,
        entry_id=entry.id,
        leaf_hash=leaf.hex(),
    )
    session.add(event)
    session.flush()
    platform = change.platform
    if platform.webhook_enabled and platform.webhook_url and platform.webhook_secret:
        delivery_id = new_id("dl")
        payload = {
            "delivery_id": delivery_id,
            "event": f"takedown.{change.check or change.to_status.value}",
            "order_id": order.id,
            "platform": platform.code,
            "status": change.to_status.value,
            "previous_status": change.from_status.value if change.from_status else None,
            "change_seq": change.change_seq,
            "at": utc_timestamp(change.at),
            "entry_id": entry.id,
            "order_url": f"/v1/platform/takedowns/{order.id}",
        }
        if change.check is not None:
            payload["check"] = change.check
        session.add(
            WebhookDelivery(
                id=delivery_id,
                platform_id=platform.id,
                order_seq=order.seq,
                event_id=event.id,
                event=payload["event"],
                payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                state="pending",
                attempts=0,
                next_attempt_at=change.at,
                created_at=change.at,
            )
        )
    return event


def _check_references(
    session: Session, req: TakedownCreate, principal: Principal | None = None
) -> Platform:
    platform = session.execute(
        select(Platform).where(Platform.code == req.platform)
    ).scalar_one_or_none()
    if platform is None:
        raise InvalidInputError(f"platform: no platform {req.platform!r}", field="platform")
    require_evidence(session, req.evidence_ids)
    if req.case_number is not None:
        case = session.execute(
            select(CaseFile.id, CaseFile.unit_id).where(CaseFile.number == req.case_number)
        ).first()
        if case is None or not reachable(session, principal, case.unit_id):
            raise InvalidInputError(
                f"case_number: no case {req.case_number!r}", field="case_number"
            )
    return platform


def issue_order(ledger: Ledger, principal: Principal, req: TakedownCreate) -> OfficerOrder:
    """Issue an order (status ``issued``), with its ``takedown`` entry; 422 on bad input.
    It belongs to the issuer's unit, or to ``req.unit`` (in the issuer's jurisdiction); a
    cited case outside the issuer's jurisdiction is unknown to it (422)."""
    now = datetime.now(UTC)
    deadline = req.deadline.astimezone(UTC)
    if deadline <= now:
        raise InvalidInputError(
            f"deadline: {req.deadline.isoformat()} is not in the future", field="deadline"
        )
    if deadline > now + MAX_DEADLINE_AHEAD:
        raise InvalidInputError("deadline: more than 366 days ahead", field="deadline")
    with ledger.transaction() as session:
        platform = _check_references(session, req, principal)
        unit_id = owner_unit(session, principal, req.unit)
    with ledger.transaction() as session:
        seq = _next_change_seq(session.connection(), platform.id)
        platform = session.get_one(Platform, platform.id)
        order = TakedownOrder(
            id=new_id("td"),
            platform_id=platform.id,
            unit_id=unit_id,
            change_seq=seq,
            status=wf.Status.ISSUED.value,
            listing_urls=json.dumps(req.listing_urls, ensure_ascii=False),
            legal_basis=req.legal_basis,
            reason=req.reason,
            deadline=deadline,
            grant_files=req.grant_files,
            case_number=req.case_number,
            issued_by=principal.pseudonym,
            issued_at=now,
            updated_at=now,
            content_sha256="",
            evidence=[
                TakedownEvidence(position=i, evidence_id=e) for i, e in enumerate(req.evidence_ids)
            ],
        )
        order.content_sha256 = content_sha256(order_content(order, platform.code))
        session.add(order)
        session.flush()
        change = Change(
            order,
            platform,
            seq,
            None,
            wf.Status.ISSUED,
            now,
            principal.pseudonym,
            body={"order_sha256": order.content_sha256, "deadline": utc_timestamp(deadline)},
        )
        _record(ledger, session, change)
        result = OfficerOrder(**public(order, platform.code).model_dump())
        label(session, [(result, unit_id)])
    ledger.queued(1)
    return result


def change_state(
    ledger: Ledger,
    order_id: str,
    action: wf.Action,
    *,
    actor: str,
    platform_code: str | None = None,
    note: str | None = None,
    removed_at: datetime | None = None,
    deadline: datetime | None = None,
    now: datetime | None = None,
) -> TakedownPublic:
    """Apply ``action`` to the order; 404 if it is not there (or, with ``platform_code``,
    not that platform's); 409 naming the allowed actions if the state forbids it.

    ``deadline``: the new deadline an ``uphold`` ruling sets. A completion schedules the
    re-captures (:func:`_schedule_checks`); a reopening or withdrawal cancels those still
    pending."""
    at = now or datetime.now(UTC)
    with ledger.transaction() as session:
        found = session.execute(
            select(TakedownOrder.platform_id, Platform.code)
            .join(Platform, Platform.id == TakedownOrder.platform_id)
            .where(TakedownOrder.id == order_id)
        ).first()
    if found is None or (platform_code is not None and found.code != platform_code):
        raise NotFoundError(f"no takedown order {order_id!r}")
    body: dict[str, Any] = {}
    if note is not None:
        reason = action is wf.Action.DISPUTE or action in wf.RULINGS
        body["reason_sha256" if reason else "note_sha256"] = sha256_text(note)
    if removed_at is not None:
        body["removed_at"] = utc_timestamp(removed_at)
    if action in wf.RULINGS:
        body["decision"] = action.value
    if deadline is not None:
        body["deadline"] = utc_timestamp(deadline)
    with ledger.transaction() as session:
        seq = _next_change_seq(session.connection(), found.platform_id)
        # Read under the feed lock: every change of this platform's orders waits for it.
        order = session.execute(
            select(TakedownOrder).where(TakedownOrder.id == order_id)
        ).scalar_one()
        current = wf.Status(order.status)
        try:
            target = wf.next_status(current, action)
        except wf.InvalidTransition as exc:
            raise ConflictError(str(exc), field="status") from exc
        order.status = target.value
        order.change_seq = seq
        order.updated_at = at
        if deadline is not None:
            order.deadline = deadline
        if target is wf.Status.COMPLETED:
            _schedule_checks(session, ledger.verify_delays, order, at)
        elif target in (wf.Status.REOPENED, wf.Status.WITHDRAWN):
            _cancel_checks(session, order.seq, at, f"order {target.value}")
        platform = session.get_one(Platform, found.platform_id)
        change = Change(order, platform, seq, current, target, at, actor, note, removed_at, body)
        event = _record(ledger, session, change)
        session.flush()
        credit_entries = 0
        if action is wf.Action.COMPLETE:  # the order's credit record (docs/credit.md §6.5)
            credit_entries = credit_hooks.takedown_completed(
                session,
                ledger.sign_receipt,
                order_id=order.id,
                case_number=order.case_number,
                platform=platform.code,
                deadline=order.deadline,
                was_overdue=current is wf.Status.OVERDUE,
                removed_at=removed_at,
                actor=actor,
                at=at,
            )
        ruling = None
        if action in wf.RULINGS and note is not None:
            ruling = RulingPublic(
                decision=action.value,
                label=wf.ACTION_LABELS[action],
                reason=note,
                deadline=deadline,
                at=at,
                change_seq=seq,
                entry_id=event.entry_id,
            )
        result = public(order, platform.code, ruling=ruling)
    ledger.queued(1 + credit_entries)
    return result


def rule_dispute(
    ledger: Ledger,
    order_id: str,
    decision: wf.Action,
    *,
    actor: str,
    reason: str,
    deadline: datetime | None,
    now: datetime | None = None,
) -> TakedownPublic:
    """An officer's ruling on a disputed order: ``uphold`` (the order stands, reopened
    with ``deadline``: required, future, at most 366 days ahead) or ``withdraw`` (no
    deadline). 422 naming the field; 409 when the order is not disputed."""
    at = now or datetime.now(UTC)
    if decision not in wf.RULINGS:
        raise InvalidInputError(
            f"decision: {decision.value!r} is not a ruling; one of uphold, withdraw",
            field="decision",
        )
    if decision is wf.Action.UPHOLD:
        if deadline is None:
            raise InvalidInputError(
                "deadline: an uphold ruling sets a new deadline", field="deadline"
            )
        deadline = to_millis(deadline.astimezone(UTC))
        if deadline <= at:
            raise InvalidInputError(
                f"deadline: {deadline.isoformat()} is not in the future", field="deadline"
            )
        if deadline > at + MAX_DEADLINE_AHEAD:
            raise InvalidInputError("deadline: more than 366 days ahead", field="deadline")
    elif deadline is not None:
        raise InvalidInputError("deadline: a withdraw ruling takes no deadline", field="deadline")
    return change_state(
        ledger, order_id, decision, actor=actor, note=reason, deadline=deadline, now=at
    )


# --- re-captures ------------------------------------------------------------------------


def completions(session: Session, order_seq: int) -> int:
    """How many times the order has been completed (a verification, completed →
    completed, is not a completion)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(TakedownEvent)
            .where(
                TakedownEvent.order_seq == order_seq,
                TakedownEvent.to_status == wf.Status.COMPLETED.value,
                (TakedownEvent.from_status.is_(None))
                | (TakedownEvent.from_status != wf.Status.COMPLETED.value),
            )
        ).scalar_one()
    )


def _schedule_checks(
    session: Session, delays: tuple[int, ...], order: TakedownOrder, at: datetime
) -> None:
    """One pending re-capture per listed URL per delay, round = this completion's number
    (the caller's transaction: the completion and its checks commit together)."""
    if not delays:
        return
    round_ = completions(session, order.seq) + 1
    for url in json.loads(order.listing_urls):
        for delay in delays:
            session.add(
                TakedownCheck(
                    order_seq=order.seq,
                    round=round_,
                    delay_seconds=delay,
                    url=url,
                    due_at=at + timedelta(seconds=delay),
                    status=CHECK_PENDING,
                    attempts=0,
                )
            )


def _cancel_checks(session: Session, order_seq: int, at: datetime, reason: str) -> int:
    """Cancel the order's pending re-captures (it was reopened or withdrawn)."""
    result = session.execute(
        update(TakedownCheck)
        .where(TakedownCheck.order_seq == order_seq, TakedownCheck.status == CHECK_PENDING)
        .values(status=CHECK_CANCELLED, finished_at=at, reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class CheckRecorded:
    """What :func:`record_check` wrote: the event, and the order's status after it."""

    event: TakedownEvent
    order: TakedownOrder
    platform: Platform
    status: wf.Status
    reopened: bool
    deadline: datetime
    #: log entries the credit record of a reappearance queued (its record, a grade change)
    credit_entries: int = 0


def reopen_deadline(session: Session, order: TakedownOrder, at: datetime) -> datetime:
    """A reopened order's new deadline: ``at`` plus the order's original span (issued
    deadline − issue time), at least :data:`MIN_REOPEN_SPAN`."""
    issued = datetime.fromisoformat(issued_deadline(session, order).replace("Z", "+00:00"))
    issued_at = order.issued_at if order.issued_at.tzinfo else order.issued_at.replace(tzinfo=UTC)
    return to_millis(at + max(issued - issued_at, MIN_REOPEN_SPAN))


def record_check(
    ledger: Ledger,
    session: Session,
    order_seq: int,
    *,
    check: str,
    url: str,
    evidence_id: str,
    delay_seconds: int,
    at: datetime,
    round_: int | None = None,
) -> CheckRecorded:
    """Record a re-capture's result as a ``takedown`` change in the caller's transaction
    (the one keeping the capture as evidence), through the feed lock like every change.

    ``removal_verified``: the status stays. ``reappeared``: a completed order is reopened
    (deadline: :func:`reopen_deadline`) and its pending re-captures cancelled; an order
    no longer completed (reopened meanwhile by another URL's re-capture), or completed
    again since the check's ``round_`` was scheduled, keeps its status: the finding is
    recorded all the same. A reappearance is also a ``takedown_reappeared`` credit record
    of the cited case's entity. The caller calls ``ledger.queued(1 +
    recorded.credit_entries)`` after the commit."""
    if check not in CHECKS:
        raise ValueError(f"check must be one of {', '.join(CHECKS)}")
    platform_id = session.execute(
        select(TakedownOrder.platform_id).where(TakedownOrder.seq == order_seq)
    ).scalar_one()
    seq = _next_change_seq(session.connection(), platform_id)
    order = session.execute(
        select(TakedownOrder)
        .where(TakedownOrder.seq == order_seq)
        .execution_options(populate_existing=True)
    ).scalar_one()
    current = wf.Status(order.status)
    body: dict[str, Any] = {
        "check": check,
        "evidence_id": evidence_id,
        "url_sha256": sha256_text(url),
        "delay_seconds": delay_seconds,
    }
    target = current
    reopened = check == REAPPEARED and current is wf.Status.COMPLETED
    if reopened and round_ is not None:
        reopened = round_ == completions(session, order.seq)
    if reopened:
        target = wf.next_status(current, wf.Action.REOPEN)
        order.deadline = reopen_deadline(session, order, at)
        body["deadline"] = utc_timestamp(order.deadline)
        _cancel_checks(session, order.seq, at, f"order reopened: {check}")
    order.status = target.value
    order.change_seq = seq
    order.updated_at = at
    platform = session.get_one(Platform, platform_id)
    change = Change(order, platform, seq, current, target, at, SYSTEM_ACTOR, body=body, check=check)
    event = _record(ledger, session, change)
    credit_entries = 0
    if check == REAPPEARED:  # the order's reappearance credit record (docs/credit.md §6.5)
        credit_entries = credit_hooks.takedown_reappeared(
            session,
            ledger.sign_receipt,
            order_id=order.id,
            case_number=order.case_number,
            platform=platform.code,
            round_=round_ if round_ is not None else max(completions(session, order.seq), 1),
            evidence_id=evidence_id,
            delay_seconds=delay_seconds,
            actor=SYSTEM_ACTOR,
            at=at,
        )
    return CheckRecorded(event, order, platform, target, reopened, order.deadline, credit_entries)


def check_removed_at(removed_at: datetime, now: datetime | None = None) -> datetime:
    """A removal time in UTC; 422 if it is in the future (beyond clock skew)."""
    moment = removed_at.astimezone(UTC)
    if moment > (now or datetime.now(UTC)) + CLOCK_SKEW:
        raise InvalidInputError(
            f"removed_at: {removed_at.isoformat()} is in the future", field="removed_at"
        )
    return moment


def scan_overdue(ledger: Ledger, *, now: datetime | None = None, limit: int = 500) -> int:
    """Mark open orders whose deadline has passed ``overdue``; returns how many.

    Safe to run anywhere at once (embedded timer, several Celery workers): each
    change re-checks the state under the platform's feed lock, so an order
    acknowledged or already marked in the meantime is left alone.
    """
    at = now or datetime.now(UTC)
    with ledger.transaction() as session:
        due = list(
            session.execute(
                select(TakedownOrder.id)
                .where(
                    TakedownOrder.status.in_([s.value for s in wf.OPEN]),
                    TakedownOrder.deadline <= at,
                )
                .order_by(TakedownOrder.deadline)
                .limit(limit)
            ).scalars()
        )
    marked = 0
    for order_id in due:
        try:
            change_state(ledger, order_id, wf.Action.OVERDUE, actor=SYSTEM_ACTOR, now=at)
            marked += 1
        except ConflictError:
            continue  # changed since the scan read it
    return marked


def load_order(session: Session, order_id: str) -> tuple[TakedownOrder, Platform]:
    """The order and its platform, or 404."""
    found = session.execute(
        select(TakedownOrder, Platform)
        .join(Platform, Platform.id == TakedownOrder.platform_id)
        .where(TakedownOrder.id == order_id)
    ).first()
    if found is None:
        raise NotFoundError(f"no takedown order {order_id!r}")
    return found[0], found[1]


def platform_id_of(session: Session, code: str | None) -> int | None:
    if code is None:
        return None
    return session.execute(select(Platform.id).where(Platform.code == code)).scalar_one_or_none()
