"""Proof bundles for entries in the SQL log: pending → sealed → anchored."""

from __future__ import annotations

from sqlalchemy import Connection, select

from anchoring.anchorer import checkpoint_note, latest_anchor
from anchoring.entries import pending_bundle, sealed_bundle
from anchoring.log import MerkleLog
from anchoring.queue import EntryRecord, latest_checkpoint
from anchoring.schema import chain_binding
from anchoring.store.sql import SqlNodeStore
from verifier.bundle import Bundle
from verifier.canonical import parse_json
from verifier.models import Entry, Manifest


def entry_of(record: EntryRecord) -> Entry:
    return Entry.model_validate(parse_json(record.entry_json, max_bytes=1 << 20, what="entry"))


def bundle_for(
    conn: Connection, record: EntryRecord, *, origin: str, manifest: Manifest | None = None
) -> Bundle:
    """The best bundle for ``record``: anchored if a confirmed anchor covers it,
    else sealed against the latest checkpoint, else pending."""
    entry = entry_of(record)
    if record.leaf_index is None:
        return pending_bundle(entry, record.receipt, origin=origin, manifest=manifest)
    tree = MerkleLog(SqlNodeStore(conn))
    anchor = latest_anchor(conn)
    binding = conn.execute(select(chain_binding)).first()
    if anchor is not None and binding is not None and record.leaf_index < anchor.size:
        note = checkpoint_note(conn, anchor.size)
        if note is not None:
            return sealed_bundle(
                tree,
                entry,
                record.leaf_index,
                note,
                anchor.size,
                origin=origin,
                manifest=manifest,
                receipt=record.receipt,
                anchor={
                    "chain_id": binding.chain_id,
                    "contract": binding.contract_address,
                    "log_id": binding.log_id,
                    "tx_hash": anchor.tx_hash,
                    "block_number": anchor.block_number,
                    "block_hash": anchor.block_hash,
                    "block_timestamp": anchor.block_timestamp,
                    "size": anchor.size,
                    "root": anchor.root.hex(),
                },
            )
    checkpoint = latest_checkpoint(conn)
    if checkpoint is None or checkpoint.size <= record.leaf_index:
        return pending_bundle(entry, record.receipt, origin=origin, manifest=manifest)
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
