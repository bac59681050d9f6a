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


def enqueue(conn: Connection, items: Sequence[QueuedEntry]) -> None:
    """Record accepted entries (pending) inside the caller's transaction."""
    if not items:
        return
    conn.execute(
        insert(log_entry),
        [
            {
                "entry_id": item.entry.id,
                "kind": item.entry.kind,
                "entry": item.entry.leaf_data().decode("utf-8"),
                "leaf_hash": item.leaf_hash,
                "received_at": item.received_at,
                "receipt": item.receipt,
                "stamp_sha256": (
                    bytes.fromhex(item.entry.body["sha256"]) if item.entry.kind == "stamp" else None
                ),
            }
            for item in items
        ],
    )


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
