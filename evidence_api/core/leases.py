"""Job rows a process leases: claimed ``queued → running`` by one owner, kept fresh by a
heartbeat, and recovered when their process is gone (retried while attempts remain,
else failed).

Capture jobs, monitor runs and takedown checks are such rows. Each table has ``id``,
``status``, ``owner``, ``attempts`` and ``started_at`` columns (captures and monitor runs
``heartbeat_at`` too); :class:`Leases` names the table and its states, and every
status change is a conditional UPDATE, so of two processes racing for a row one wins.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from evidence_api.core.db import Transaction

log = logging.getLogger(__name__)

_HOST = socket.gethostname()[:100]
#: This process's identity: a pid alone may be reused after a restart.
_TOKEN = secrets.token_hex(6)


def process_owner() -> str:
    """``host:pid:token``: the process running a job (recorded in its row)."""
    return f"{_HOST}:{os.getpid()}:{_TOKEN}"


def owner_dead(owner: str | None) -> bool:
    """Whether the process named by ``owner`` is known to be gone: on this host, its pid
    no longer runs (or is this process, under another incarnation). Another host's
    process is judged by its heartbeat only."""
    if owner is None:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token != _TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def set_where(session: Session, model: Any, *where: ColumnElement[bool], **values: object) -> bool:
    """``UPDATE model SET values WHERE where`` in the caller's transaction; True when
    exactly one row changed (the condition still held)."""
    result = session.execute(
        update(model).where(*where).values(**values).execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


@dataclass(frozen=True)
class Leases:
    """A table of leased job rows: ``model`` (the ORM class), its waiting and running
    states, ``what`` a row is called in logs, and ``cleared``: columns reset whenever a
    row enters or leaves ``running`` (a capture's ``step``)."""

    model: Any
    what: str
    waiting: str
    running: str
    failed: str = "failed"
    heartbeat: bool = True
    cleared: Mapping[str, object] = field(default_factory=dict)

    def claim(self, transaction: Transaction, row_id: object, owner: str, now: datetime) -> bool:
        """``waiting → running`` for ``owner`` (one attempt more, started now),
        atomically; False if another took it first or it is not waiting."""
        model = self.model
        values: dict[str, object] = {
            "status": self.running,
            "owner": owner,
            "started_at": now,
            "attempts": model.attempts + 1,
            **self.cleared,
        }
        if self.heartbeat:
            values["heartbeat_at"] = now
        with transaction() as session:
            return set_where(
                session, model, model.id == row_id, model.status == self.waiting, **values
            )

    def mine(self, row_id: object, owner: str) -> tuple[ColumnElement[bool], ...]:
        """The condition that the row is still ``owner``'s running lease."""
        model = self.model
        return (model.id == row_id, model.status == self.running, model.owner == owner)

    def recover(
        self, transaction: Transaction, row: Any, *, max_attempts: int, reason: str
    ) -> str | None:
        """An abandoned running row (its process gone): back to waiting if it has an
        attempt left, else failed with ``reason``. Conditional on the row still being that
        lease's (same owner, same attempts); returns the new status, or None when
        something else changed it first."""
        model = self.model
        retry = row.attempts < max_attempts
        values: dict[str, object] = (
            {"status": self.waiting, "owner": None, **self.cleared}
            if retry
            else {
                "status": self.failed,
                "reason": reason,
                "finished_at": datetime.now(UTC),
                **self.cleared,
            }
        )
        if retry and self.heartbeat:
            values["heartbeat_at"] = None
        owner_match = model.owner.is_(None) if row.owner is None else model.owner == row.owner
        with transaction() as session:
            changed = set_where(
                session,
                model,
                model.id == row.id,
                model.status == self.running,
                owner_match,
                model.attempts == row.attempts,
                **values,
            )
        if not changed:
            return None
        log.warning(
            "%s %s was interrupted (process %s gone); %s",
            self.what,
            row.id,
            row.owner,
            "queued again" if retry else "failed",
        )
        return self.waiting if retry else self.failed


def abandoned(owner: str | None, last_sign: datetime, now: datetime, stale_after: float) -> bool:
    """A running row whose process is gone: its pid dead on this host, or no sign of it
    (heartbeat, else start) for ``stale_after`` seconds."""
    return owner_dead(owner) or now - last_sign > timedelta(seconds=stale_after)
