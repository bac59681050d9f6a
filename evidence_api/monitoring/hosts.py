"""The per-host gate: how many monitor runs (and takedown re-captures) may work toward one
host at once, and how often one may start, across every process sharing the database.

Two tables (:class:`~evidence_api.monitoring.models.MonitorHost`,
:class:`~evidence_api.monitoring.models.MonitorHostSlot`) hold it:

* ``monitor_host.next_start_at``: no run toward the host starts before it; each start
  moves it ``spacing`` seconds past the start (a rate limit: at most one start per
  ``spacing`` seconds);
* ``monitor_host_slot`` (host, slot) for slot 0…concurrency−1: a run holds one slot as a
  lease (``holder``, ``held_until``) while it works; a holder that dies frees its slot at
  ``held_until`` (long runs :func:`renew` it).

:func:`acquire` is one transaction of conditional UPDATEs, atomic on SQLite (the first
UPDATE takes the database's write lock) and on PostgreSQL (it locks the host's row, so
two acquirers of one host run one after the other and the second sees the first's
slot): (1) move ``next_start_at`` forward only if it is due; (2) take a free or expired
slot, again only if it still is. When (1) finds the host not due, or (2) finds no slot,
the transaction rolls back (the start time is not consumed) and the caller defers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from evidence_api.core.db import Transaction
from evidence_api.monitoring.models import MonitorHost, MonitorHostSlot

#: Free slots tried in one acquisition (another process may take one between the read
#: and the conditional UPDATE; on PostgreSQL the host row's lock makes that rare).
TRIES = 4
#: Longest host name kept (``monitor_host.host``).
MAX_HOST = 255


class _NoSlotError(Exception):
    """Raised inside the transaction to roll back the start time it moved."""


def _insert_missing(
    session: Session,
    table: type[MonitorHost] | type[MonitorHostSlot],
    rows: list[dict[str, object]],
    keys: list[str],
) -> None:
    """INSERT … ON CONFLICT DO NOTHING (rows that exist are left as they are)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            postgresql.insert(table).values(rows).on_conflict_do_nothing(index_elements=keys)
        )
    else:
        session.execute(
            sqlite.insert(table).values(rows).on_conflict_do_nothing(index_elements=keys)
        )


def ensure(transaction: Transaction, host: str, concurrency: int, now: datetime) -> None:
    """The host's row and its slots 0…concurrency−1 exist (created due now; idempotent
    under races: inserts that meet an existing row do nothing)."""
    with transaction() as session:
        _insert_missing(session, MonitorHost, [{"host": host, "next_start_at": now}], ["host"])
        slots: list[dict[str, object]] = [
            {"host": host, "slot": i, "holder": None} for i in range(concurrency)
        ]
        _insert_missing(session, MonitorHostSlot, slots, ["host", "slot"])


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(
        MonitorHostSlot.holder.is_(None),
        MonitorHostSlot.held_until.is_(None),
        MonitorHostSlot.held_until <= now,
    )


def acquire(
    transaction: Transaction,
    host: str,
    *,
    concurrency: int,
    spacing: float,
    holder: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> int | None:
    """Take one of ``host``'s ``concurrency`` slots for ``holder`` until now +
    ``lease_seconds``, if the host's next start is due; returns the slot number, or None
    (busy, or not due yet: nothing changed, the caller defers)."""
    if not host or len(host) > MAX_HOST:
        raise ValueError(f"host must be 1..{MAX_HOST} characters")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    now = now or datetime.now(UTC)
    ensure(transaction, host, concurrency, now)
    try:
        with transaction() as session:
            # The host's row is written first: it serialises the acquirers of one host.
            # Without spacing there is no start time to keep (and two acquirers whose
            # clocks read a few ms apart must not turn each other away): the row is only
            # locked.
            due = MonitorHost.next_start_at <= now
            moved = session.execute(
                update(MonitorHost)
                .where(MonitorHost.host == host, *((due,) if spacing > 0 else ()))
                .values(
                    next_start_at=now + timedelta(seconds=spacing)
                    if spacing > 0
                    else MonitorHost.next_start_at
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(moved, "rowcount", 0) != 1:
                raise _NoSlotError
            candidates = session.execute(
                select(MonitorHostSlot.slot)
                .where(
                    MonitorHostSlot.host == host,
                    MonitorHostSlot.slot < concurrency,
                    _free(now),
                )
                .order_by(MonitorHostSlot.slot)
                .limit(TRIES)
            ).scalars()
            for slot in list(candidates):
                taken = session.execute(
                    update(MonitorHostSlot)
                    .where(
                        MonitorHostSlot.host == host,
                        MonitorHostSlot.slot == slot,
                        _free(now),
                    )
                    .values(holder=holder, held_until=now + timedelta(seconds=lease_seconds))
                    .execution_options(synchronize_session=False)
                )
                if getattr(taken, "rowcount", 0) == 1:
                    return int(slot)
            raise _NoSlotError
    except _NoSlotError:
        return None


def renew(
    transaction: Transaction,
    host: str,
    slot: int,
    holder: str,
    *,
    lease_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Extend ``holder``'s lease of the slot to now + ``lease_seconds``; False if it no
    longer holds it (its lease ran out and another took the slot)."""
    now = now or datetime.now(UTC)
    with transaction() as session:
        result = session.execute(
            update(MonitorHostSlot)
            .where(
                MonitorHostSlot.host == host,
                MonitorHostSlot.slot == slot,
                MonitorHostSlot.holder == holder,
            )
            .values(held_until=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def release(transaction: Transaction, host: str, slot: int, holder: str) -> bool:
    """Free the slot if ``holder`` still holds it; False otherwise (nothing changed)."""
    with transaction() as session:
        result = session.execute(
            update(MonitorHostSlot)
            .where(
                and_(
                    MonitorHostSlot.host == host,
                    MonitorHostSlot.slot == slot,
                    MonitorHostSlot.holder == holder,
                )
            )
            .values(holder=None, held_until=None)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def next_start(transaction: Transaction, host: str) -> datetime | None:
    """When the host's next start is due (None: no run toward it was ever gated)."""
    with transaction() as session:
        return session.execute(
            select(MonitorHost.next_start_at).where(MonitorHost.host == host)
        ).scalar_one_or_none()
