"""The durable entry queue: what was accepted, and where it landed in the tree.

An entry is written here (with its signed receipt) in the same transaction as
whatever it records, before the client is answered; from then on it is never
lost: the sealer appends pending entries in receive order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from anchoring.schema import log_checkpoint, log_entry
from verifier.models import Entry


@dataclass(frozen=True)
class QueuedEntry:
    entry: Entry
    leaf_hash: bytes
    received_at: datetime
    receipt: str


@dataclass(frozen=True)
class EntryRecord:
    seq: int
    entry_id: str
    kind: str
    entry_json: str
    leaf_hash: bytes
    received_at: datetime
    receipt: str
    leaf_index: int | None


@dataclass(frozen=True)
class CheckpointRecord:
    size: int
    root: bytes
    note: str
    created_at: datetime


#: The columns :func:`enqueue` writes, in order.
_QUEUED_COLUMNS = (
    "entry_id",
    "kind",
    "entry",
    "leaf_hash",
    "received_at",
    "receipt",
    "stamp_sha256",
)
#: SQLite's insert of those columns, in the DB-API's own placeholders.
_SQLITE_INSERT = (
    "INSERT INTO log_entry (entry_id, kind, entry, leaf_hash, received_at, receipt, "
    "stamp_sha256) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def enqueue(conn: Connection, items: Sequence[QueuedEntry]) -> None:
    """Record accepted entries (pending) inside the caller's transaction.

    On SQLite the rows go to the driver's ``executemany`` directly, with the timestamp in
    the form SQLAlchemy's own ``DateTime`` binding writes (so reads see no difference): a
    thousand stamps a request spent more time in SQLAlchemy's per-row parameter handling
    than in SQLite. Other databases take SQLAlchemy's batched insert.
    """
    if not items:
        return
    rows = [
        (
            item.entry.id,
            item.entry.kind,
            item.entry.leaf_data().decode("utf-8"),
            item.leaf_hash,
            item.received_at,
            item.receipt,
            bytes.fromhex(item.entry.body["sha256"]) if item.entry.kind == "stamp" else None,
        )
        for item in items
    ]
    if conn.dialect.name == "sqlite":
        when = log_entry.c.received_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if when is not None:
            stamps = {at: when(at) for at in {row[4] for row in rows}}
            rows = [(*row[:4], stamps[row[4]], *row[5:]) for row in rows]
        conn.exec_driver_sql(_SQLITE_INSERT, rows)
        return
    conn.execute(insert(log_entry), [dict(zip(_QUEUED_COLUMNS, row, strict=True)) for row in rows])


def _record(row: object) -> EntryRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return EntryRecord(
        seq=m["seq"],
        entry_id=m["entry_id"],
        kind=m["kind"],
        entry_json=m["entry"],
        leaf_hash=bytes(m["leaf_hash"]),
        received_at=m["received_at"],
        receipt=m["receipt"],
        leaf_index=m["leaf_index"],
    )


def get_entry(conn: Connection, entry_id: str) -> EntryRecord | None:
    row = conn.execute(select(log_entry).where(log_entry.c.entry_id == entry_id)).first()
    return _record(row) if row is not None else None


def find_by_leaf_hash(conn: Connection, leaf_hash: bytes) -> EntryRecord | None:
    row = conn.execute(
        select(log_entry)
        .where(log_entry.c.leaf_hash == leaf_hash, log_entry.c.leaf_index.is_not(None))
        .order_by(log_entry.c.leaf_index)
        .limit(1)
    ).first()
    return _record(row) if row is not None else None


def pending_count(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(log_entry).where(log_entry.c.leaf_index.is_(None))
        ).scalar_one()
    )


def latest_checkpoint(conn: Connection) -> CheckpointRecord | None:
    row = conn.execute(
        select(log_checkpoint).order_by(log_checkpoint.c.size.desc()).limit(1)
    ).first()
    if row is None:
        return None
    m = row._mapping
    return CheckpointRecord(m["size"], bytes(m["root"]), m["note"], m["created_at"])
