"""The audit's entries and tree phases on a real (migrated, file) SQLite log of stamps:
the rebuild is the same whatever the batch, a changed node is named once (no cascade up
the tree), a changed entry names itself and the checkpoints above it, a lost tile names
its nodes, a resumed run reads each entry once, and readiness follows failed runs."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from anchoring.entries import make_entry, utc_timestamp
from anchoring.queue import QueuedEntry, enqueue
from anchoring.schema import checkpoint_cosignature, log_checkpoint, log_entry, merkle_tile
from anchoring.sealer import seal_pending
from anchoring.store.sql import tile_id
from evidence_api.audit.models import AuditFinding, AuditRun
from evidence_api.audit.service import (
    AuditContext,
    Auditor,
    AuditUnusableError,
    acknowledge,
    readiness_check,
)
from evidence_api.core.errors import ApiError
from evidence_api.core.storage.local import LocalObjectStore
from verifier.cosignature import WitnessSigner
from verifier.merkle import leaf_hash
from verifier.note import SignerKey, parse_note

LEAVES = 300
SIGNER = SignerKey.generate("audit.test/log")


def fill(engine: Engine) -> None:
    at, received = utc_timestamp(), datetime.now(UTC)
    queued = []
    for i in range(LEAVES):
        digest = hashlib.sha256(b"stamp %d" % i).hexdigest()
        entry = make_entry("stamp", f"st-audit-{i:05d}", {"sha256": digest}, at=at)
        queued.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), received, "(unread)"))
    with engine.begin() as conn:
        enqueue(conn, queued)
    seal_pending(engine, SIGNER, max_batch=70)  # checkpoints at 70, 140, ..., 300


@pytest.fixture
def log(sqlite_engine: Engine) -> Engine:
    fill(sqlite_engine)
    return sqlite_engine


def context(engine: Engine, tmp_path: Path, batch: int) -> AuditContext:
    return AuditContext(
        engine=engine,
        store=LocalObjectStore(tmp_path / "objects"),
        log_key=SIGNER.verifier(),
        batch=batch,
    )


def audit(engine: Engine, tmp_path: Path, batch: int = 64) -> tuple[str, list[tuple[str, str]]]:
    auditor = Auditor(context(engine, tmp_path, batch))
    outcome = auditor.run(auditor.start())
    with engine.connect() as conn:
        found = conn.execute(
            select(AuditFinding.kind, AuditFinding.location)
            .where(AuditFinding.run_id == outcome.run_id)
            .order_by(AuditFinding.id)
        ).all()
    return outcome.status, [(k, loc) for k, loc in found]


@pytest.mark.parametrize("batch", [10, 64, 1000])
def test_an_untouched_log_audits_clean_whatever_the_batch(
    log: Engine, tmp_path: Path, batch: int
) -> None:
    assert audit(log, tmp_path, batch) == ("clean", [])


def test_a_changed_node_is_named_once(log: Engine, tmp_path: Path) -> None:
    with log.begin() as conn:
        key = tile_id(2, 5)
        hashes = bytearray(
            conn.execute(select(merkle_tile.c.hashes).where(merkle_tile.c.id == key)).scalar_one()
        )
        hashes[5 * 32] ^= 0x80
        conn.execute(
            update(merkle_tile).where(merkle_tile.c.id == key).values(hashes=bytes(hashes))
        )
    assert audit(log, tmp_path) == ("failed", [("node", "node:2/5")])


def test_a_changed_leaf_node_is_named_by_its_leaf(log: Engine, tmp_path: Path) -> None:
    with log.begin() as conn:
        hashes = bytearray(
            conn.execute(select(merkle_tile.c.hashes).where(merkle_tile.c.id == 1)).scalar_one()
        )
        hashes[3 * 32] ^= 0x01  # leaf 64 + 3
        conn.execute(update(merkle_tile).where(merkle_tile.c.id == 1).values(hashes=bytes(hashes)))
    assert audit(log, tmp_path) == ("failed", [("node", "leaf:67")])


def test_an_entry_rewritten_with_its_leaf_hash_names_the_leaf_and_the_checkpoints_above(
    log: Engine, tmp_path: Path
) -> None:
    with log.begin() as conn:
        entry = conn.execute(
            select(log_entry.c.entry).where(log_entry.c.leaf_index == 150)
        ).scalar_one()
        edited = entry.replace('"sha256":"', '"sha256":"0')
        conn.execute(
            update(log_entry)
            .where(log_entry.c.leaf_index == 150)
            .values(entry=edited, leaf_hash=leaf_hash(edited.encode()))
        )
    status, found = audit(log, tmp_path)
    assert status == "failed"
    assert found == [
        ("node", "leaf:150"),
        ("checkpoint", "checkpoint:210"),
        ("checkpoint", "checkpoint:280"),
        ("checkpoint", "checkpoint:300"),
    ]


def test_an_entry_that_no_longer_hashes_to_its_column_is_an_entry_finding(
    log: Engine, tmp_path: Path
) -> None:
    with log.begin() as conn:
        conn.execute(
            update(log_entry)
            .where(log_entry.c.leaf_index == 3)
            .values(entry=log_entry.c.entry + " ")
        )
        entry_id = conn.execute(
            select(log_entry.c.entry_id).where(log_entry.c.leaf_index == 3)
        ).scalar_one()
    status, found = audit(log, tmp_path)
    assert status == "failed"
    assert found[0] == ("entry", f"entry:{entry_id}")
    assert [f for f in found if f[0] == "node"] == []  # the tree below is not blamed


def test_a_lost_tile_names_its_nodes_and_a_checkpoint_beyond_the_tree_is_named(
    log: Engine, tmp_path: Path
) -> None:
    with log.begin() as conn:
        conn.execute(delete(merkle_tile).where(merkle_tile.c.id == tile_id(1, 64)))  # nodes 64..127
        conn.execute(update(log_checkpoint).where(log_checkpoint.c.size == 300).values(size=301))
    status, found = audit(log, tmp_path)
    assert status == "failed"
    assert ("node", "node:1/128") not in found  # level 1 has 150 nodes: tile 2 holds 128..149
    assert [f for f in found if f[0] == "node"] == [("node", f"node:1/{i}") for i in range(64, 128)]
    assert ("checkpoint", "checkpoint:301") in found


def test_a_run_stopped_mid_tree_resumes_from_its_border(log: Engine, tmp_path: Path) -> None:
    first = Auditor(context(log, tmp_path, 64), stop_after=7)  # entries 5 batches, tree 2
    run_id = first.start()
    assert first.run(run_id).status == "interrupted"
    with log.connect() as conn:
        cursor = conn.execute(select(AuditRun.cursor).where(AuditRun.id == run_id)).scalar_one()
    assert cursor is not None and '"phase": "tree"' in cursor and '"pos": 128' in cursor
    later = Auditor(context(log, tmp_path, 64))
    assert later.resumable() == run_id
    done = later.run(run_id)
    assert (done.status, done.findings) == ("clean", 0)
    assert done.counts["entries"] == LEAVES and done.counts["leaves"] == LEAVES
    with pytest.raises(AuditUnusableError):
        later.resumable()


def test_readiness_follows_failed_runs_until_acknowledged(log: Engine, tmp_path: Path) -> None:
    check = readiness_check(log)
    assert check() == "ok"
    with log.begin() as conn:
        conn.execute(update(log_entry).where(log_entry.c.leaf_index == 0).values(entry="{}"))
    status, _ = audit(log, tmp_path)
    assert status == "failed"
    assert check().startswith("failed: audit run 1 found")
    auditor = Auditor(context(log, tmp_path, 64))
    with auditor._transaction() as session:
        with pytest.raises(ApiError):
            acknowledge(session, 1, " ", None)
        acknowledge(session, 1, "李四", "restored")
    assert check() == "ok"
    with auditor._transaction() as session, pytest.raises(ApiError):
        acknowledge(session, 1, "李四", None)  # once


def test_a_crash_mid_batch_leaves_the_run_resumable_from_the_last_saved_batch(
    log: Engine, tmp_path: Path
) -> None:
    calls = []

    def crash(phase: str, done: int, total: int) -> None:
        calls.append(phase)
        if len(calls) == 3:
            raise RuntimeError("the machine went down")

    first = Auditor(context(log, tmp_path, 64), progress=crash)
    run_id = first.start()
    with pytest.raises(RuntimeError):
        first.run(run_id)
    with log.connect() as conn:
        assert conn.execute(select(AuditRun.status).where(AuditRun.id == run_id)).scalar() == (
            "interrupted"
        )
    done = Auditor(context(log, tmp_path, 64)).run(run_id)
    assert (done.status, done.counts["entries"], done.counts["leaves"]) == ("clean", LEAVES, LEAVES)


def test_cosignatures_verify_with_the_configured_witness_keys(log: Engine, tmp_path: Path) -> None:
    witness = WitnessSigner.generate("court.example/witness")
    stranger = WitnessSigner.generate("elsewhere.example/w")
    with log.begin() as conn:
        notes = conn.execute(select(log_checkpoint.c.size, log_checkpoint.c.note)).all()
        for size, note in notes:
            for signer in (witness, stranger):
                cosig = signer.cosign(parse_note(note).text, 1_780_000_000 + size)
                conn.execute(
                    insert(checkpoint_cosignature).values(
                        size=size,
                        witness=cosig.name,
                        key_id=cosig.key_id,
                        timestamp=cosig.timestamp,
                        signature=cosig.signature,
                        created_at=datetime.now(UTC),
                    )
                )
    ctx = replace(context(log, tmp_path, 64), witnesses=(witness.key().to_text(),))
    auditor = Auditor(ctx)
    clean = auditor.run(auditor.start())
    assert (clean.status, clean.counts["cosignatures"]) == ("clean", len(notes))
    assert "witnesses not in the settings" in clean.counts["not_checked"]["cosignatures"]

    size = notes[1][0]
    with log.begin() as conn:
        conn.execute(
            update(checkpoint_cosignature)
            .where(
                checkpoint_cosignature.c.size == size,
                checkpoint_cosignature.c.witness == witness.name,
            )
            .values(timestamp=checkpoint_cosignature.c.timestamp + 1)
        )
    auditor = Auditor(ctx)
    failed = auditor.run(auditor.start())
    assert failed.status == "failed" and failed.findings == 1
    with log.connect() as conn:
        found = conn.execute(
            select(AuditFinding.kind, AuditFinding.location).where(
                AuditFinding.run_id == failed.run_id
            )
        ).all()
    assert [tuple(f) for f in found] == [("cosignature", f"cosignature:{size}/{witness.name}")]
