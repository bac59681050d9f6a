"""The sealer (``anchoring.sealer``) on SQLite and PostgreSQL: what a seal writes.

Each seal gives its entries the next leaf indices in seq order (gaps in seq
included), stores their leaves so the tree equals the in-memory log of the same
leaves, and signs a checkpoint of that root. On PostgreSQL, entries enqueued
while sealers run (two of them, racing) are all sealed exactly once, including
one whose seq was taken before a seal but committed only after it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, event, func, select, text

from anchoring.entries import make_entry, utc_timestamp
from anchoring.log import MerkleLog
from anchoring.queue import QueuedEntry, enqueue
from anchoring.schema import log_checkpoint, log_entry, merkle_log
from anchoring.sealer import seal_once, seal_pending
from anchoring.store.memory import MemoryNodeStore
from anchoring.store.sql import SqlNodeStore
from evidence_api.core.ids import new_id
from verifier.checkpoint import open_checkpoint
from verifier.merkle import leaf_hash
from verifier.note import SignerKey

SIGNER = SignerKey.generate("test.local/log")
#: generous: the machine running the tests may be loaded
DEADLINE_S = 120.0


def stamps(tag: str, n: int) -> list[QueuedEntry]:
    at, received = utc_timestamp(), datetime.now(UTC)
    out = []
    for i in range(n):
        digest = hashlib.sha256(f"{tag} {i}".encode()).hexdigest()
        entry = make_entry("stamp", new_id("st"), {"sha256": digest}, at=at)
        out.append(QueuedEntry(entry, leaf_hash(entry.leaf_data()), received, "(unread)"))
    return out


def entries(engine: Engine) -> list[tuple[int, int | None, bytes, datetime | None]]:
    """(seq, leaf_index, leaf_hash, sealed_at) of every entry, in seq order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                log_entry.c.seq,
                log_entry.c.leaf_index,
                log_entry.c.leaf_hash,
                log_entry.c.sealed_at,
            ).order_by(log_entry.c.seq)
        ).all()
    return [(r[0], r[1], bytes(r[2]), r[3]) for r in rows]


def check_log(engine: Engine, count: int) -> list[bytes]:
    """Every one of ``count`` entries sealed exactly once, and the tree holds exactly their
    leaves at their indices; the latest checkpoint signs the in-memory log's root.
    Returns the leaves in index order."""
    rows = entries(engine)
    assert len(rows) == count
    assert all(index is not None and sealed for _, index, _, sealed in rows), "one is pending"
    by_index = sorted((index, digest) for _, index, digest, _ in rows if index is not None)
    assert [index for index, _ in by_index] == list(range(count)), "indices are not 0..n-1"
    leaves = [digest for _, digest in by_index]
    assert Counter(leaves) == Counter(digest for _, _, digest, _ in rows)
    tree = MerkleLog(SqlNodeStore(engine))
    assert tree.size == count
    for index in sorted({0, count // 3, count // 2, count - 1}):
        assert tree.leaf_hash(index) == leaves[index], f"leaf {index} is not its entry's"
    memory = MerkleLog(MemoryNodeStore())
    memory.append_hashes(leaves)
    with engine.connect() as conn:
        size = conn.execute(select(merkle_log.c.size)).scalar_one()
        latest = conn.execute(
            select(log_checkpoint.c.size, log_checkpoint.c.root, log_checkpoint.c.note)
            .order_by(log_checkpoint.c.size.desc())
            .limit(1)
        ).one()
    assert size == count == latest[0]
    assert bytes(latest[1]) == memory.root() == tree.root()
    signed = open_checkpoint(latest[2], [SIGNER.verifier()])
    assert (signed.size, signed.root) == (count, memory.root())
    return leaves


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_seals_give_indices_in_seq_order(engine: Engine) -> None:
    queued = stamps("order", 2600)
    with engine.begin() as conn:
        enqueue(conn, queued[:1300])
        enqueue(conn, queued[1300:])
    # Gaps in seq: entries that vanished before sealing (as a rolled-back intake would leave).
    gone = {seq for seq, *_ in entries(engine)[5:2600:97]}
    with engine.begin() as conn:
        conn.execute(delete(log_entry).where(log_entry.c.seq.in_(gone)))
    seals = seal_pending(engine, SIGNER, max_batch=700)
    count = 2600 - len(gone)
    assert [s.count for s in seals] == [700, 700, 700, count - 2100]
    assert [s.first_index for s in seals] == [0, 700, 1400, 2100]
    assert seals[-1].size == count
    rows = entries(engine)
    assert [index for _, index, _, _ in rows] == list(range(count)), "not in seq order"
    # the leaf at index i is the i-th entry's, in seq order
    kept = [q.leaf_hash for q in queued]
    assert check_log(engine, count) == [digest for _, _, digest, _ in rows]
    assert set(kept) >= {digest for _, _, digest, _ in rows}
    # each seal stamps its own entries with one time, later seals not earlier
    times = [sealed for _, _, _, sealed in rows if sealed is not None]
    assert len(times) == count
    assert len(set(times[:700])) == 1 and times[0] <= times[700] <= times[-1]
    assert seal_once(engine, SIGNER, max_batch=700) is None, "nothing is left pending"


def test_a_seal_grows_an_existing_log(engine: Engine) -> None:
    """Seals of odd sizes, so each starts mid-tile and mid-subtree: the tree stays the
    in-memory log's at every checkpoint."""
    total = 0
    for n, batch in [(1, 1), (62, 5), (3, 2), (130, 64), (511, 97)]:
        with engine.begin() as conn:
            enqueue(conn, stamps(f"grow {total}", n))
        seals = seal_pending(engine, SIGNER, max_batch=batch)
        total += n
        assert sum(s.count for s in seals) == n and seals[-1].size == total
        check_log(engine, total)


def test_concurrent_enqueue_while_sealing_loses_nothing(postgres_engine: Engine) -> None:
    engine = postgres_engine
    writers, per_writer, chunk = 4, 1500, 50
    stop = threading.Event()
    errors: list[BaseException] = []
    sealed_batches: list[int] = []

    def sealer() -> None:
        try:
            while not stop.is_set():
                result = seal_once(engine, SIGNER, max_batch=300)
                if result is not None:
                    sealed_batches.append(result.count)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def writer(tag: int) -> None:
        try:
            queued = stamps(f"writer {tag}", per_writer)
            for begin in range(0, per_writer, chunk):
                with engine.begin() as conn:
                    enqueue(conn, queued[begin : begin + chunk])
        except BaseException as exc:
            errors.append(exc)

    # An entry whose seq is taken now but committed only after later entries were sealed:
    # it must still be sealed, once, by a later seal.
    late = engine.connect()
    late_tx = late.begin()
    late_entries = stamps("late", 3)
    enqueue(late, late_entries)
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    threads = [threading.Thread(target=writer, args=(t,)) for t in range(writers)]
    for thread in sealers + threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), "a writer did not finish"
    deadline = time.monotonic() + DEADLINE_S
    while not sealed_batches and not errors and time.monotonic() < deadline:
        time.sleep(0.05)  # the sealers run until stopped: they seal what the writers committed
    late_tx.commit()
    late.close()
    stop.set()
    for thread in sealers:
        thread.join(DEADLINE_S)
        assert not thread.is_alive(), "a sealer did not finish"
    assert not errors, errors
    assert sealed_batches, "the sealers sealed nothing while the writers ran"
    seal_pending(engine, SIGNER, max_batch=300)
    count = writers * per_writer + 3
    leaves = check_log(engine, count)
    late_hashes = {q.leaf_hash for q in late_entries}
    rows = entries(engine)
    assert {digest for _, _, digest, _ in rows[:3]} == late_hashes, "the late seqs are lowest"
    assert min(index or 0 for _, index, _, _ in rows[:3]) > 0, "sealed before later seqs"
    assert len(set(leaves)) == count
    with engine.connect() as conn:
        checkpoints = conn.execute(select(func.count()).select_from(log_checkpoint)).scalar_one()
    assert checkpoints >= len(sealed_batches)


def test_a_seal_that_cannot_mark_every_entry_keeps_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry read for the seal but gone by the time its index is set: the seal fails
    and rolls back whole (no leaf, no index, no checkpoint), and the next one seals the rest."""
    with engine.begin() as conn:
        enqueue(conn, stamps("vanish", 10))
    victim = entries(engine)[4][0]
    append = MerkleLog.append_with_root

    def append_then_vanish(self: MerkleLog, leaves: list[bytes]) -> tuple[int, bytes]:
        out = append(self, leaves)
        store = self.store
        assert isinstance(store, SqlNodeStore)
        conn = store._bind
        assert not isinstance(conn, Engine)
        conn.execute(delete(log_entry).where(log_entry.c.seq == victim))
        return out

    monkeypatch.setattr(MerkleLog, "append_with_root", append_then_vanish)
    with pytest.raises(RuntimeError, match="sealing 10 entries marked 9"):
        seal_once(engine, SIGNER, max_batch=100)
    monkeypatch.undo()
    rows = entries(engine)
    assert len(rows) == 10 and all(index is None for _, index, _, _ in rows)
    with engine.connect() as conn:
        assert conn.execute(select(merkle_log.c.size)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(log_checkpoint)).scalar_one() == 0
    assert MerkleLog(SqlNodeStore(engine)).size == 0
    with engine.begin() as conn:
        conn.execute(delete(log_entry).where(log_entry.c.seq == victim))
    assert seal_pending(engine, SIGNER, max_batch=100)[-1].size == 9
    check_log(engine, 9)


def test_a_backlog_the_statistics_do_not_know_is_read_through_the_indexes(
    postgres_engine: Engine,
) -> None:
    """The table was analysed while nothing was pending, then a backlog arrived (an outage,
    a burst), and autovacuum has not analysed it again yet: the seal's statements on
    ``log_entry`` still find their batch through the indexes, never by reading every
    pending row (a bitmap scan and a sort) or the whole table (a sequential scan)."""
    engine = postgres_engine
    plans: list[str] = []

    def explain(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if "log_entry" in statement and statement.lstrip().startswith(("SELECT", "UPDATE")):
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))

    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE log_entry SET (autovacuum_enabled = off)"))
    try:
        with engine.begin() as conn:
            enqueue(conn, stamps("known", 20))
        seal_pending(engine, SIGNER, max_batch=100)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE log_entry"))
        with engine.begin() as conn:
            enqueue(conn, stamps("unknown", 3000))
        event.listen(engine, "before_cursor_execute", explain)
        try:
            seal = seal_once(engine, SIGNER, max_batch=1000)
        finally:
            event.remove(engine, "before_cursor_execute", explain)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE log_entry RESET (autovacuum_enabled)"))
    assert seal is not None and (seal.first_index, seal.count) == (20, 1000)
    assert len(plans) == 2, plans  # the batch's read and its indices' update
    read, mark = plans
    assert "Index Scan using ix_log_entry_pending on log_entry" in read, read
    assert "Index Scan using log_entry_pkey on log_entry" in mark, mark[:600]
    for plan in plans:
        assert "Seq Scan on log_entry" not in plan, plan[:600]
        assert "Bitmap Heap Scan on log_entry" not in plan, plan[:600]
        assert "Sort" not in plan, plan[:600]
    rows = entries(engine)
    assert [index for _, index, _, _ in rows[:1020]] == list(range(1020))
    assert all(index is None for _, index, _, _ in rows[1020:])
