"""Proof bundles for entries in the SQL log: pending → sealed → anchored."""

from __future__ import annotations

import base64

from sqlalchemy import Connection, select

from anchoring.anchorer import checkpoint_note, latest_anchor
from anchoring.entries import pending_bundle, sealed_bundle
from anchoring.log import MerkleLog
from anchoring.queue import EntryRecord, latest_checkpoint
from anchoring.schema import chain_binding, checkpoint_cosignature, checkpoint_timestamp
from anchoring.store.sql import SqlNodeStore
from verifier.bundle import Bundle
from verifier.canonical import parse_json
from verifier.cosignature import Cosignature, add_cosignatures
from verifier.models import Entry, Manifest


def entry_of(record: EntryRecord) -> Entry:
    return Entry.model_validate(parse_json(record.entry_json, max_bytes=1 << 20, what="entry"))


def cosignatures_of(conn: Connection, size: int) -> list[Cosignature]:
    """The witnesses' stored cosignatures on the checkpoint of ``size``, by witness name."""
    rows = conn.execute(
        select(checkpoint_cosignature)
        .where(checkpoint_cosignature.c.size == size)
        .order_by(checkpoint_cosignature.c.witness, checkpoint_cosignature.c.key_id)
    ).all()
    return [Cosignature(r.witness, bytes(r.key_id), r.timestamp, bytes(r.signature)) for r in rows]


def cosigned_note(conn: Connection, note: str, size: int) -> str:
    """The signed checkpoint ``note`` of ``size`` with its stored cosignature lines."""
    cosignatures = cosignatures_of(conn, size)
    return add_cosignatures(note, cosignatures) if cosignatures else note


def timestamps_of(conn: Connection, size: int) -> list[dict[str, str]]:
    """The stored RFC 3161 tokens on the checkpoint of ``size``, as bundle items."""
    rows = conn.execute(
        select(checkpoint_timestamp.c.tsa, checkpoint_timestamp.c.token)
        .where(checkpoint_timestamp.c.size == size)
        .order_by(checkpoint_timestamp.c.tsa)
    ).all()
    return [{"tsa": r.tsa, "token": base64.b64encode(bytes(r.token)).decode()} for r in rows]


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
                cosigned_note(conn, note, anchor.size),
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
                timestamps=timestamps_of(conn, anchor.size) or None,
            )
    checkpoint = latest_checkpoint(conn)
    if checkpoint is None or checkpoint.size <= record.leaf_index:
        return pending_bundle(entry, record.receipt, origin=origin, manifest=manifest)
    return sealed_bundle(
        tree,
        entry,
        record.leaf_index,
        cosigned_note(conn, checkpoint.note, checkpoint.size),
        checkpoint.size,
        origin=origin,
        manifest=manifest,
        receipt=record.receipt,
        timestamps=timestamps_of(conn, checkpoint.size) or None,
    )
