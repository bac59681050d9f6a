"""What a platform token may do: read its feed and its orders, the evidence they cite
(and what the re-captures of its own orders kept), and acknowledge, complete or dispute
them.

Isolation: every look-up is scoped to the token's platform, and anything outside
it (another platform's order, evidence no order of its own cites) is answered
exactly as if it did not exist (404), so ids never leak.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_api.core.auth import Principal
from evidence_api.core.errors import ForbiddenError, InvalidInputError, NotFoundError
from evidence_api.core.pagination import decode_cursor, encode_cursor
from evidence_api.intake import service as evidence_service
from evidence_api.monitoring.models import TakedownCheck
from evidence_api.registry.models import Platform
from evidence_api.takedowns import service as takedowns
from evidence_api.takedowns import workflow as wf
from evidence_api.takedowns.models import TakedownFeed, TakedownOrder
from evidence_api.takedowns.schemas import (
    CitedEvidence,
    FeedPage,
    PlatformTakedown,
    TakedownPublic,
)
from evidence_api.takedowns.views import history, publics, status_filter

MAX_FEED_PAGE = 500


def _not_found(order_id: str) -> NotFoundError:
    return NotFoundError(f"no takedown order {order_id!r}")


def _own_order(session: Session, principal: Principal, order_id: str) -> TakedownOrder:
    order = session.execute(
        select(TakedownOrder)
        .join(Platform, Platform.id == TakedownOrder.platform_id)
        .where(TakedownOrder.id == order_id, Platform.code == principal.platform)
    ).scalar_one_or_none()
    if order is None:
        raise _not_found(order_id)
    return order


def _cited(session: Session, order: TakedownOrder, evidence_id: str) -> None:
    """404 unless the order cites ``evidence_id``, or a re-capture of the order kept it
    (the platform sees what the verification of its own order found)."""
    if evidence_id in {e.evidence_id for e in order.evidence}:
        return
    kept = session.execute(
        select(TakedownCheck.id).where(
            TakedownCheck.order_seq == order.seq, TakedownCheck.evidence_id == evidence_id
        )
    ).first()
    if kept is None:
        raise NotFoundError(f"takedown order {order.id!r} cites no evidence {evidence_id!r}")


def feed(
    session: Session, principal: Principal, *, status: str | None, since: str | None, limit: int
) -> FeedPage:
    """The platform's orders changed after cursor ``since``, oldest change first.

    The high-water mark is read *before* the orders: every change numbered up
    to it has committed by then (the feed lock makes changes commit in order),
    so a page never skips one; the next cursor moves past it only when the
    page is not full.
    """
    wanted = status_filter(status)
    after = decode_cursor(since, field="since") if since else 0
    platform_id = takedowns.platform_id_of(session, principal.platform)
    if platform_id is None:
        return FeedPage(items=[], next_cursor=encode_cursor(after), more=False)
    high = session.execute(
        select(TakedownFeed.last_seq).where(TakedownFeed.platform_id == platform_id)
    ).scalar_one_or_none()
    if high is None or high <= after:
        return FeedPage(items=[], next_cursor=encode_cursor(after), more=False)
    query = (
        select(TakedownOrder)
        .where(
            TakedownOrder.platform_id == platform_id,
            TakedownOrder.change_seq > after,
            TakedownOrder.change_seq <= high,
        )
        .order_by(TakedownOrder.change_seq)
        .limit(limit + 1)
    )
    if wanted is not None:
        query = query.where(TakedownOrder.status == wanted)
    rows = list(session.execute(query).scalars())
    code = principal.platform or ""
    items = publics(session, [(r, code) for r in rows[:limit]])
    more = len(rows) > limit
    cursor = rows[limit - 1].change_seq if more else high
    return FeedPage(items=items, next_cursor=encode_cursor(cursor), more=more)


def platform_order(
    archive: evidence_service.Archive, principal: Principal, order_id: str
) -> PlatformTakedown:
    """The order, its history, and each cited evidence item with its proof bundle."""
    with archive.transaction() as session:
        order = _own_order(session, principal, order_id)
        code = principal.platform or ""
        base = publics(session, [(order, code)])[0]
        events = history(session, archive.origin, order, proof_status=False)
        content = takedowns.order_content(
            order, code, issued_deadline=takedowns.issued_deadline(session, order)
        )
        cited = [e.evidence_id for e in order.evidence]
    return PlatformTakedown(
        **base.model_dump(),
        content=content,
        history=events,
        evidence=[_evidence(archive, evidence_id) for evidence_id in cited],
    )


def _evidence(archive: evidence_service.Archive, evidence_id: str) -> CitedEvidence:
    details = evidence_service.get_evidence(archive, evidence_id)
    bundle = evidence_service.proof_bundle(archive, evidence_id)
    return CitedEvidence(
        evidence_id=evidence_id,
        manifest=details.manifest,
        files=details.files,
        bundle=bundle.model_dump(mode="json"),
    )


def cited_evidence(
    archive: evidence_service.Archive, principal: Principal, order_id: str, evidence_id: str
) -> CitedEvidence:
    with archive.transaction() as session:
        _cited(session, _own_order(session, principal, order_id), evidence_id)
    return _evidence(archive, evidence_id)


def open_cited_file(
    archive: evidence_service.Archive,
    principal: Principal,
    order_id: str,
    evidence_id: str,
    name: str,
) -> evidence_service.FileDownload:
    """Stream a cited file when the order grants files; the read is a custody entry."""
    with archive.transaction() as session:
        order = _own_order(session, principal, order_id)
        _cited(session, order, evidence_id)
        granted = order.grant_files
    if not granted:
        raise ForbiddenError(
            f"takedown order {order_id!r} does not grant access to the evidence's files; "
            "its proof bundles are available"
        )
    return evidence_service.open_file(
        archive, principal, evidence_id, name, f"takedown order {order_id}"
    )


def act(
    ledger: takedowns.Ledger,
    principal: Principal,
    order_id: str,
    action: wf.Action,
    *,
    note: str | None = None,
    removed_at: datetime | None = None,
) -> TakedownPublic:
    """Acknowledge, complete or dispute the platform's own order (404 otherwise; 409 if the
    state forbids it)."""
    if action is wf.Action.OVERDUE:  # pragma: no cover - no route offers it
        raise ForbiddenError("only the service marks orders overdue")
    if removed_at is not None:
        removed_at = takedowns.check_removed_at(removed_at)
        with ledger.transaction() as session:
            issued_at = _own_order(session, principal, order_id).issued_at
        if wf.removal_precedes_order(removed_at, issued_at):
            raise InvalidInputError(
                f"removed_at: {removed_at.isoformat()} is before the order was issued "
                f"({issued_at.astimezone(UTC).isoformat()})",
                field="removed_at",
            )
    return takedowns.change_state(
        ledger,
        order_id,
        action,
        actor=principal.pseudonym,
        platform_code=principal.platform or "\x00",
        note=note,
        removed_at=removed_at,
    )
