"""The sealer: the log's single writer.

Each seal takes pending entries in receive order, appends their leaves,
records each entry's index, and signs a C2SP checkpoint — all in one database
transaction that starts with the cluster-wide sealer lock (:mod:`anchoring.locks`) and
the ``merkle_log`` row lock, so two sealers (threads, processes or machines) can never
interleave. A crash at any point
leaves either the whole seal or none of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, TextClause, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from anchoring import locks
from anchoring.issuing import issue_checkpoint
from anchoring.log import MerkleLog
from anchoring.queue import CheckpointRecord
from anchoring.reader import announce
from anchoring.schema import log_checkpoint, log_entry, merkle_log
from anchoring.store.sql import SqlNodeStore
from verifier.note import SignerKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SealResult:
    first_index: int
    count: int
    size: int
    checkpoint: str


def _lock_log(conn: Connection) -> None:
    """Take the log's write lock: a row lock on PostgreSQL, the write lock on SQLite."""
    moved = conn.execute(
        update(merkle_log).where(merkle_log.c.id == 1).values(size=merkle_log.c.size)
    )
    if moved.rowcount == 0:
        conn.execute(insert(merkle_log).values(id=1, size=0))


#: Each sealed entry's index in one statement: the i-th (from 0) of the seqs given gets
#: ``first + i``. The row set is exactly the seqs the seal read, never a range or a
#: sub-select: on PostgreSQL (READ COMMITTED) a row with a lower seq committed since the
#: read would slip into those. PostgreSQL: the seqs as one bigint[] (the ``= ANY`` makes the
#: plan an index scan of those rows, not a hash join over the whole table); SQLite: as one
#: JSON array (``json_each``, each row then found by its rowid). Neither is bound by a limit
#: on parameters.
_MARK_SEALED: dict[str, TextClause] = {
    "postgresql": text(
        "UPDATE log_entry SET leaf_index = :first + v.n - 1, sealed_at = :now"
        " FROM unnest(:seqs) WITH ORDINALITY AS v(s, n)"
        " WHERE log_entry.seq = v.s AND log_entry.seq = ANY(:seqs)"
    ).bindparams(
        bindparam("seqs", type_=ARRAY(log_entry.c.seq.type)),
        bindparam("now", type_=log_entry.c.sealed_at.type),
    ),
    "sqlite": text(
        "UPDATE log_entry SET leaf_index = :first + j.key, sealed_at = :now"
        " FROM json_each(:seqs) AS j WHERE log_entry.seq = j.value"
    ).bindparams(bindparam("now", type_=log_entry.c.sealed_at.type)),
}

#: PostgreSQL: the seal's transaction reads ``log_entry`` through its indexes only
#: (``set_config(..., true)`` is ``SET LOCAL``: it ends with the transaction). The
#: planner's statistics lag behind a backlog (autovacuum analyses a table again only after
#: a tenth of it has changed): with a fresh backlog counted as a few rows, it found the
#: batch's rows for their update by reading the whole table (a sequential scan), or read
#: every pending row and sorted them to take the batch (a bitmap scan), so each seal cost
#: O(all entries) and a backlog took quadratic time to drain. Through the indexes each
#: statement costs O(batch log n) whatever the statistics say
#: (``tests/integration/test_sealer_sql.py`` checks the plans).
_INDEX_PLANS = text(
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
)

_PENDING = (
    select(log_entry.c.seq, log_entry.c.leaf_hash)
    .where(log_entry.c.leaf_index.is_(None))
    .order_by(log_entry.c.seq)
    .limit(bindparam("max_batch"))
)


def _mark_sealed(conn: Connection, seqs: list[int], first: int, now: datetime) -> None:
    """Set ``leaf_index`` (``first`` on, in the order of ``seqs``) and ``sealed_at``."""
    dialect = conn.dialect.name
    statement = _MARK_SEALED.get(dialect)
    if statement is None:  # any other database: one row at a time
        conn.execute(
            update(log_entry)
            .where(log_entry.c.seq == bindparam("s"))
            .values(leaf_index=bindparam("i"), sealed_at=now),
            [{"s": s, "i": first + n} for n, s in enumerate(seqs)],
        )
        return
    bound = json.dumps(seqs) if dialect == "sqlite" else seqs
    moved = conn.execute(statement, {"seqs": bound, "first": first, "now": now}).rowcount
    if moved != len(seqs):  # the transaction rolls back: nothing of this seal is kept
        raise RuntimeError(f"sealing {len(seqs)} entries marked {moved}")


def seal_once(engine: Engine, signer: SignerKey, *, max_batch: int) -> SealResult | None:
    """Seal up to ``max_batch`` pending entries; ``None`` if nothing was pending."""
    with engine.begin() as conn:
        locks.take(conn, locks.SEALER_LOCK)
        if conn.dialect.name == "postgresql":
            conn.execute(_INDEX_PLANS)
        _lock_log(conn)
        rows = conn.execute(_PENDING, {"max_batch": max_batch}).all()
        if not rows:
            return None
        seqs = [r[0] for r in rows]
        first, root = MerkleLog(SqlNodeStore(conn)).append_with_root([bytes(r[1]) for r in rows])
        now = datetime.now(UTC)
        _mark_sealed(conn, seqs, first, now)
        size = first + len(rows)
        note = issue_checkpoint(signer, size, root)
        conn.execute(insert(log_checkpoint).values(size=size, root=root, note=note, created_at=now))
    # After the commit: readers in this process serve it from memory from now on.
    announce(engine, CheckpointRecord(size, root, note, now))
    # One line per signed checkpoint (after the commit: only what is durable is logged).
    log.info(
        "sealed %d entries: checkpoint size %d root %s",
        len(rows),
        size,
        root.hex()[:16],
        extra={"log_size": size, "sealed": len(rows), "root_prefix": root.hex()[:16]},
    )
    return SealResult(first, len(rows), size, note)


def seal_pending(
    engine: Engine,
    signer: SignerKey,
    *,
    max_batch: int,
    exclusive: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> list[SealResult]:
    """Seal until nothing is pending, each seal holding ``exclusive()``: the service's
    writer lock on SQLite, so the sealer waits its turn beside the group commits instead
    of polling for SQLite's lock while they hand it to each other."""
    results: list[SealResult] = []
    while True:
        with exclusive():
            result = seal_once(engine, signer, max_batch=max_batch)
        if result is None:
            return results
        results.append(result)
