"""Overdue clue transfers and assistance requests, flagged by the beat schedule (job
``clue-deadlines``, task ``evidence.clue_deadlines``; docs/clues.md §5).

A pending transfer or an open request past its deadline is flagged ``overdue`` once,
with one log entry (``transfer_overdue`` on the clue, ``overdue`` on the request) in
the transaction that sets the flag. Rows are taken ``FOR UPDATE SKIP LOCKED`` and the
flag is checked again under the lock, so two schedulers never flag one item twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from anchoring.entries import utc_timestamp
from evidence_api.clues import assists, service
from evidence_api.clues.models import Assist, Clue, ClueTransfer
from evidence_api.clues.steps import SYSTEM_ACTOR, StepLedger, ledger_of, record_step
from evidence_api.clues.workflow import AssistStatus
from evidence_api.core.jurisdiction import labels

#: Items flagged per transaction (a scan continues until none is left).
BATCH = 200


def _transfers(ledger: StepLedger, session: Session, now: datetime) -> int:
    rows = session.execute(
        select(ClueTransfer)
        .where(
            ClueTransfer.status == service.PENDING,
            ClueTransfer.overdue.is_(False),
            ClueTransfer.deadline <= now,
        )
        .order_by(ClueTransfer.seq)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).scalars()
    count = 0
    for transfer in rows:
        clue = session.execute(select(Clue).where(Clue.seq == transfer.clue_seq)).scalar_one()
        transfer.overdue = True
        units = labels(session, [clue.unit_id, transfer.from_unit_id, transfer.to_unit_id])
        record_step(
            ledger,
            session,
            service.subject(clue),
            "transfer_overdue",
            actor=SYSTEM_ACTOR,
            at=now,
            body={
                "unit": service.code_of(units, clue.unit_id),
                "status": clue.status,
                "transfer_id": transfer.id,
                "from_unit": service.code_of(units, transfer.from_unit_id),
                "to_unit": service.code_of(units, transfer.to_unit_id),
                "deadline": utc_timestamp(transfer.deadline),
            },
            transfer=transfer,
        )
        count += 1
    return count


def _assists(ledger: StepLedger, session: Session, now: datetime) -> int:
    rows = session.execute(
        select(Assist)
        .where(
            Assist.status == AssistStatus.OPEN.value,
            Assist.overdue.is_(False),
            Assist.deadline <= now,
        )
        .order_by(Assist.seq)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).scalars()
    count = 0
    for row in rows:
        row.overdue = True
        view = assists.view_of(session, row)
        record_step(
            ledger,
            session,
            assists.subject(row),
            "overdue",
            actor=SYSTEM_ACTOR,
            at=now,
            body={
                **assists.ends(view),
                "status": row.status,
                "deadline": utc_timestamp(row.deadline),
            },
        )
        count += 1
    return count


def flag_once(ledger: StepLedger, now: datetime | None = None) -> int:
    """Flag every pending transfer and open request past its deadline (at ``now``); the
    number flagged."""
    total = 0
    while True:
        moment = now or datetime.now(UTC)
        with ledger.transaction() as session:
            flagged = _transfers(ledger, session, moment) + _assists(ledger, session, moment)
        if flagged:
            ledger.queued(flagged)
        total += flagged
        if flagged < BATCH:
            return total


def flag_overdue(runtime: Any) -> int:
    """Flag every transfer and request past its deadline; the number flagged."""
    return flag_once(ledger_of(runtime))
