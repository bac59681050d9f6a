"""Who may seal and who may anchor: one process at a time, cluster-wide.

Every process of a deployment may run the sealing and anchoring steps (in-process
timers of each ``evidence serve`` replica, Celery tasks on any worker); exactly one acts
at a time. On PostgreSQL each step's transaction first takes a transaction-level
advisory lock (``pg_advisory_xact_lock``): a second process waits for it, then finds the
work done (nothing pending, the checkpoint anchored) or does what came since. The lock
goes with the transaction, so a process killed mid-step (``kill -9``) frees it as soon as
PostgreSQL sees its connection close (at once on one machine; a lost machine is noticed
by TCP keepalives or ``idle_in_transaction_session_timeout``, docs/deployment.md), and a
waiting or the next ticking process takes it; what the dead one had not committed is
rolled back, so it is done again, once. The row lock the step takes next (``merkle_log`` for the
sealer, ``chain_binding`` for the anchorer) stays as the second line; on SQLite, whose
single writer serialises the whole step, the advisory lock does not exist and every
caller proceeds to the row lock.

The keys are fixed 63-bit numbers (below), so an operator sees the holder with::

    SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.granted AND l.database =
          (SELECT oid FROM pg_database WHERE datname = current_database())
      AND (l.classid::bigint << 32) | l.objid::bigint = <key>;

(each connection names its process in ``application_name``: see :func:`application_name`).
"""

from __future__ import annotations

import os
import sys
from typing import Final

from sqlalchemy import Connection, text

#: "EVIDSEAL" and "EVIDANCH" in ASCII (positive PostgreSQL bigints).
SEALER_LOCK: Final = 0x455649445345414C
ANCHORER_LOCK: Final = 0x45564944414E4348

LOCKS: Final = {"sealer": SEALER_LOCK, "anchorer": ANCHORER_LOCK}

_TAKE = text("SELECT pg_advisory_xact_lock(:k)")

_HOLDERS = text(
    "SELECT ((l.classid::bigint << 32) | l.objid::bigint) AS key, a.application_name"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def take(conn: Connection, key: int) -> None:
    """Hold lock ``key`` for the rest of ``conn``'s transaction, waiting while another
    transaction holds it (nothing to do off PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_TAKE, {"k": key})


def holders(conn: Connection) -> dict[str, str]:
    """Which connection holds each lock now: ``{"sealer": application_name, ...}`` (a lock
    nobody holds is absent; empty off PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return {}
    names = {key: name for name, key in LOCKS.items()}
    return {
        names[row.key]: str(row.application_name)
        for row in conn.execute(_HOLDERS)
        if row.key in names
    }


def application_name() -> str:
    """``evidence <command> pid <pid>``: what each PostgreSQL connection of this process
    calls itself (read at connect time, so a forked child names its own pid)."""
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), "python")
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
    return f"{program} {command} pid {os.getpid()}"[:63]


def holder_pid(name: str) -> int | None:
    """The operating-system pid in an :func:`application_name` (``None``: not ours)."""
    head, _, pid = name.rpartition(" pid ")
    return int(pid) if head and pid.isdigit() else None
