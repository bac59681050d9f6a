"""ODR deadlines (job ``odr-deadlines``, task ``evidence.odr_deadlines``; docs/odr.md §6).

An open mediation past its deadline fails with reason ``deadline``: its ``failed`` event
(party ``system``) and log entry, its outcome and its complaint's resolution are written
in one transaction. Rows are taken ``FOR UPDATE SKIP LOCKED`` and each is closed by a
conditional update (``WHERE status = 'open'``): two schedulers at once never close one
mediation twice, and a mediation a party is answering at that moment is left to the next
scan (its answer, if it came in time, wins).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from evidence_api.core.ledger import Ledger, ledger_of
from evidence_api.odr import workflow as wf
from evidence_api.odr.models import OdrCase
from evidence_api.odr.service import SYSTEM_ACTOR, Action, apply_action

#: Mediations closed per transaction (a scan continues until none is left).
BATCH = 100


def close_once(ledger: Ledger, now: datetime | None = None) -> int:
    """Close every open mediation whose deadline is at or before ``now``; how many."""
    total = 0
    while True:
        moment = now or datetime.now(UTC)
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        closed = 0
        with ledger.transaction() as session:
            rows = session.execute(
                select(OdrCase)
                .where(OdrCase.status == wf.Status.OPEN.value, OdrCase.deadline <= moment)
                .order_by(OdrCase.seq)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            ).scalars()
            for case in list(rows):
                taken = session.execute(
                    update(OdrCase)
                    .where(OdrCase.seq == case.seq, OdrCase.status == wf.Status.OPEN.value)
                    .values(status=wf.Status.OPEN.value)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]  # closed meanwhile
                    continue
                session.refresh(case)
                if case.status != wf.Status.OPEN.value:
                    continue
                apply_action(
                    session,
                    ledger.sign_receipt,
                    case,
                    Action(
                        wf.Kind.FAILED,
                        wf.Party.SYSTEM,
                        SYSTEM_ACTOR,
                        reason=wf.FAIL_DEADLINE,
                    ),
                    moment,
                )
                closed += 1
        if closed:
            ledger.queued(closed)
        total += closed
        if closed < BATCH:
            return total


def close_overdue(runtime: Any) -> int:
    """Close the open mediations past their deadline as failed; returns how many."""
    return close_once(ledger_of(runtime))
