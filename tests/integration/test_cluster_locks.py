"""The cluster-wide sealer and anchorer locks (``anchoring.locks``) on real PostgreSQL.

* a transaction holding the sealer lock is seen by :func:`holders` under its process's
  ``application_name``, and a second sealer waits for it (one acts at a time);
* a process killed with SIGKILL while it holds the lock frees it: the next seal proceeds
  as soon as PostgreSQL has seen the connection close.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

from sqlalchemy import Engine, func, select

from anchoring import locks
from anchoring.queue import enqueue
from anchoring.schema import log_entry
from anchoring.sealer import seal_once
from tests.integration.test_sealer_sql import SIGNER, stamps
from tests.support.waiting import wait_until

DEADLINE_S = 120.0


def sealed(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(log_entry.c.leaf_index.is_not(None))
            ).scalar_one()
        )


def test_holder_named_and_second_sealer_waits(postgres_engine: Engine) -> None:
    engine = postgres_engine
    with engine.begin() as conn:
        enqueue(conn, stamps("waits", 5))
    done = threading.Event()
    with engine.begin() as holder:
        locks.take(holder, locks.SEALER_LOCK)
        with engine.connect() as probe:
            seen = locks.holders(probe)
        assert locks.holder_pid(seen["sealer"]) == os.getpid()
        assert "anchorer" not in seen

        def second() -> None:
            seal_once(engine, SIGNER, max_batch=100)
            done.set()

        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        # The second sealer is blocked on the lock this transaction holds: it has sealed
        # nothing while we hold it (checked after it had ample time to get that far).
        wait_until(lambda: _waiting_on_lock(engine), DEADLINE_S, "second sealer waiting")
        assert not done.is_set()
        assert sealed(engine) == 0
    thread.join(DEADLINE_S)
    assert done.is_set()
    assert sealed(engine) == 5


def _waiting_on_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).scalar_one()
    return bool(waiting)


def test_killed_holder_frees_the_lock(postgres_engine: Engine) -> None:
    engine = postgres_engine
    with engine.begin() as conn:
        enqueue(conn, stamps("killed", 3))
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from anchoring import locks
                from evidence_api.core.db import make_engine
                engine = make_engine({url!r})
                with engine.begin() as conn:
                    locks.take(conn, locks.SEALER_LOCK)
                    print("held", flush=True)
                    time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        with engine.connect() as probe:
            assert locks.holder_pid(locks.holders(probe)["sealer"]) == holder.pid
        holder.kill()
        killed_at = time.monotonic()
        holder.wait(DEADLINE_S)
        result = seal_once(engine, SIGNER, max_batch=100)
        handed_over = time.monotonic() - killed_at
    finally:
        if holder.poll() is None:
            holder.kill()
    assert result is not None and result.count == 3
    assert sealed(engine) == 3
    print(f"sealer lock free {handed_over:.3f} s after the holder's SIGKILL")
    with engine.connect() as probe:
        assert "sealer" not in locks.holders(probe)
