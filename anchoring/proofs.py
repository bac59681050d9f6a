"""Proof bundles for entries in the SQL log (pending → sealed; anchored later)."""

from __future__ import annotations

from sqlalchemy import Connection

from anchoring.entries import pending_bundle, sealed_bundle
from anchoring.log import MerkleLog
from anchoring.queue import EntryRecord, latest_checkpoint
from anchoring.store.sql import SqlNodeStore
from verifier.bundle import Bundle
from verifier.canonical import parse_json
from verifier.models import Entry, Manifest


def entry_of(record: EntryRecord) -> Entry:
    return Entry.model_validate(parse_json(record.entry_json, max_bytes=1 << 20, what="entry"))


def bundle_for(
    conn: Connection, record: EntryRecord, *, origin: str, manifest: Manifest | None = None
) -> Bundle:
    """The freshest bundle for ``record``: sealed against the latest checkpoint, else pending."""
    entry = entry_of(record)
    checkpoint = latest_checkpoint(conn)
    if record.leaf_index is None or checkpoint is None or checkpoint.size <= record.leaf_index:
        return pending_bundle(entry, record.receipt, origin=origin, manifest=manifest)
    tree = MerkleLog(SqlNodeStore(conn))
    return sealed_bundle(
        tree,
        entry,
        record.leaf_index,
        checkpoint.note,
        checkpoint.size,
        origin=origin,
        manifest=manifest,
        receipt=record.receipt,
    )
