"""The sealer: the log's single writer.

Each seal takes pending entries in receive order, appends their leaves,
records each entry's index, and signs a C2SP checkpoint — all in one database
transaction that starts by locking the ``merkle_log`` row, so two sealers
(threads, processes or machines) can never interleave. A crash at any point
leaves either the whole seal or none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

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


def seal_once(engine: Engine, signer: SignerKey, *, max_batch: int) -> SealResult | None:
    """Seal up to ``max_batch`` pending entries; ``None`` if nothing was pending."""
    with engine.begin() as conn:
        _lock_log(conn)
        rows = conn.execute(
            select(log_entry.c.seq, log_entry.c.leaf_hash)
            .where(log_entry.c.leaf_index.is_(None))
            .order_by(log_entry.c.seq)
            .limit(max_batch)
        ).all()
        if not rows:
            return None
        tree = MerkleLog(SqlNodeStore(conn))
        first = tree.append_hashes([bytes(r.leaf_hash) for r in rows])
        now = datetime.now(UTC)
        conn.execute(
            update(log_entry)
            .where(log_entry.c.seq == bindparam("s"))
            .values(leaf_index=bindparam("i"), sealed_at=now),
            [{"s": r.seq, "i": first + n} for n, r in enumerate(rows)],
        )
        size = first + len(rows)
        root = tree.root(size)
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


def seal_pending(engine: Engine, signer: SignerKey, *, max_batch: int) -> list[SealResult]:
    """Seal until nothing is pending."""
    results = []
    while (result := seal_once(engine, signer, max_batch=max_batch)) is not None:
        results.append(result)
    return results
