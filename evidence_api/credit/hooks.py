"""Credit records from takedown orders and spot checks, written in the transaction of the
fact (docs/credit.md §6.5). Each hook returns how many log entries it queued (the record's
and a grade change's), for the caller's ``queued(n)`` after its commit; nothing is
recorded when the entity is not known.

- a takedown order completed by its platform: ``takedown_on_time``, or ``takedown_late``
  when it was completed after its (current) deadline or had gone ``overdue``; source
  ``takedown:<order id>``; the entity is the one of the case the order cites
  (``case_number``), none without one;
- a re-capture finding a removed listing again: ``takedown_reappeared``, source
  ``takedown:<order id>/reappeared/<n>``, ``n`` the completion round it checked (several
  URLs or delays finding it after the same completion are one record);
- a spot-check result: ``qualified``/``no_issue`` → ``spotcheck_compliant``,
  ``unqualified``/``rectify`` → ``spotcheck_noncompliant``, ``not_found``/``closed`` →
  none; source ``spotcheck:<plan id>/<entity ref>``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.core.ledger import SignReceipt
from evidence_api.credit.records import add_record
from evidence_api.registry.models import CaseFile
from verifier.models import Entry

#: Spot-check outcome -> record kind (None: no record).
SPOTCHECK_KINDS: dict[str, str | None] = {
    "qualified": "spotcheck_compliant",
    "no_issue": "spotcheck_compliant",
    "unqualified": "spotcheck_noncompliant",
    "rectify": "spotcheck_noncompliant",
    "not_found": None,
    "closed": None,
}


class _Counting:
    """A receipt signer that counts the entries it signed (queued in the transaction)."""

    def __init__(self, sign_receipt: SignReceipt) -> None:
        self.sign_receipt = sign_receipt
        self.count = 0

    def __call__(self, entry: Entry) -> tuple[bytes, str]:
        self.count += 1
        return self.sign_receipt(entry)


def _record(session: Session, sign_receipt: SignReceipt, **fields: Any) -> int:
    counting = _Counting(sign_receipt)
    add_record(session, counting, **fields)
    return counting.count


def case_entity(session: Session, case_number: str | None) -> int | None:
    """The entity of the case numbered ``case_number`` (None: no case, or no entity)."""
    if case_number is None:
        return None
    found = session.execute(
        select(CaseFile.entity_id).where(CaseFile.number == case_number)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def takedown_completed(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    order_id: str,
    case_number: str | None,
    platform: str,
    deadline: datetime,
    was_overdue: bool,
    removed_at: datetime | None,
    actor: str,
    at: datetime,
) -> int:
    """A completion: on time, or late (after ``deadline`` or once overdue)."""
    entity_id = case_entity(session, case_number)
    if entity_id is None:
        return 0
    late = was_overdue or at > _aware(deadline)
    details: dict[str, Any] = {
        "order_id": order_id,
        "platform": platform,
        "case_number": case_number,
        "deadline": utc_timestamp(_aware(deadline)),
        "completed_at": utc_timestamp(at),
        "overdue": was_overdue,
    }
    if removed_at is not None:
        details["removed_at"] = utc_timestamp(_aware(removed_at))
    return _record(
        session,
        sign_receipt,
        entity_id=entity_id,
        kind="takedown_late" if late else "takedown_on_time",
        source=f"takedown:{order_id}",
        occurred_at=at,
        details=details,
        actor=actor,
        at=at,
    )


def takedown_reappeared(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    order_id: str,
    case_number: str | None,
    platform: str,
    round_: int,
    evidence_id: str,
    delay_seconds: int,
    actor: str,
    at: datetime,
) -> int:
    """A re-capture found the listing again after completion round ``round_``."""
    entity_id = case_entity(session, case_number)
    if entity_id is None:
        return 0
    return _record(
        session,
        sign_receipt,
        entity_id=entity_id,
        kind="takedown_reappeared",
        source=f"takedown:{order_id}/reappeared/{round_}",
        occurred_at=at,
        details={
            "order_id": order_id,
            "platform": platform,
            "case_number": case_number,
            "round": round_,
            "evidence_id": evidence_id,
            "delay_seconds": delay_seconds,
        },
        actor=actor,
        at=at,
    )


def spotcheck_result(
    session: Session,
    sign_receipt: SignReceipt,
    *,
    plan_id: str,
    entity_ref: str,
    entity_id: int | None,
    outcome: str,
    entry_id: str,
    actor: str,
    at: datetime,
) -> int:
    """A spot-check result of a drawn entity (``ent-<id>``)."""
    kind = SPOTCHECK_KINDS.get(outcome)
    if kind is None or entity_id is None:
        return 0
    return _record(
        session,
        sign_receipt,
        entity_id=entity_id,
        kind=kind,
        source=f"spotcheck:{plan_id}/{entity_ref}",
        occurred_at=at,
        details={
            "plan_id": plan_id,
            "entity": entity_ref,
            "outcome": outcome,
            "entry_id": entry_id,
        },
        actor=actor,
        at=at,
    )
